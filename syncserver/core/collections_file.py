"""The collections file (--collections) as a server starts with it: read once for the
server's life, its per-collection conflict policies joined to those of --policies and
--resolvers."""

from __future__ import annotations

from ..collections.declared import (
    NONE_DECLARED,
    CollectionsFileError,
    CollectionSpec,
    Declared,
    load_collections,
)
from ..config.setting_kinds import SettingError
from ..config.settings import Settings
from ..model.policies import PolicyTable


def declared_for(settings: Settings) -> Declared:
    """The settings' collections file (NONE_DECLARED without one). The setting's own check
    read it already: a problem now means the file changed since."""
    if not settings.collections:
        return NONE_DECLARED
    try:
        return load_collections(settings.collections)
    except CollectionsFileError as exc:
        raise SettingError(f"--collections / SYNCSERVER_COLLECTIONS: {exc}") from None


def join_declared(table: PolicyTable, declared: Declared) -> None:
    """The file's `policy` and `resolver` of each collection join the table of --policies
    and --resolvers. A collection named in both is fine when they agree; when they do not,
    which one was meant is not for the server to guess: SettingError, naming both."""
    for name, spec in declared.collections.items():
        resolver = declared.resolvers.get(name)
        ours = resolver or spec.policy
        if ours is None:
            continue  # the file gives no policy: the flags' (or the default) holds
        theirs = table.resolvers.get(name) or table.by_collection.get(name)
        if theirs is not None and theirs is not ours:  # (a resolver path imports to one object)
            raise SettingError(
                f"collection {name}: the collections file {declared.source} gives "
                f"{_file_says(spec)}, and {_flags_say(table, name)}: declare its conflict "
                f"policy in one place (the file's [collections.{name}]) and drop it from the "
                "flag")
        if resolver is not None:
            table.resolvers[name] = resolver
        elif spec.policy is not None:
            table.by_collection[name] = spec.policy


def _file_says(spec: CollectionSpec) -> str:
    if spec.resolver is not None:
        return f"resolver {spec.resolver!r}"
    assert spec.policy is not None
    return f"policy {spec.policy.value!r}"


def _flags_say(table: PolicyTable, name: str) -> str:
    resolver = table.resolvers.get(name)
    if resolver is not None:
        return ("--resolvers / SYNCSERVER_RESOLVERS names resolver "
                f"'{resolver.__module__}:{resolver.__qualname__}'")
    return (f"--policies / SYNCSERVER_POLICIES gives policy "
            f"{table.by_collection[name].value!r}")
