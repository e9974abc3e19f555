"""The collections file (--collections FILE, TOML or JSON): what an operator declares of each
collection, read and checked whole before the server starts.

    app_version = 2          # the app's schema version this file describes
    min_app_version = 1      # writes stamped with an older app version: upgrade_required
    undeclared = "reject"    # writes to collections not named here: "reject" or "allow"

    [collections.todos]
    policy = "merge"                  # conflict policy (docs/conflicts.md)
    version = 2                       # the app version of the current schema
    upgrade = "myapp.upgrades:todos"  # makes data of older app versions current
    read = ["*"]                      # roles; "*": anyone the space grants
    create = ["member"]
    update = ["member", "owner"]      # "owner": the record's creator
    delete = ["owner"]

    [collections.todos.schema]        # JSON Schema 2020-12 of a record's data
    type = "object"
    required = ["title"]

Every problem is found at start and named with its place and its fix: a server never runs
with a file it reads differently from what the operator meant.
"""

from __future__ import annotations

import importlib
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.mutations import SPACE_PATTERN
from ..model.policies import Policy, Resolver, load_resolver
from .schema import RecordSchema

ANYONE = "*"  # a role every user the space grants has
OWNER = "owner"  # the role a user has for the records they created
OPERATIONS = ("read", "create", "update", "delete")
UNDECLARED = ("reject", "allow")
# Makes data written by an older app version current: (data, from_version, op) -> data.
Upgrade = Callable[[dict[str, Any], int, str], dict[str, Any]]

_FILE_KEYS = {"app_version", "min_app_version", "undeclared", "collections"}
_COLLECTION_KEYS = {"policy", "resolver", "version", "upgrade", "schema", *OPERATIONS}


class CollectionsFileError(ValueError):
    """What is wrong with a collections file: its place and what to do, in one message."""


@dataclass(frozen=True)
class CollectionSpec:
    """One declared collection. Role lists hold role names, ANYONE or OWNER; a user may do an
    operation when the space grants it (r to read, rw to write) and one of their roles, or
    OWNER for a record they created, is in the operation's list."""

    name: str
    schema: RecordSchema | None = None  # None: any JSON object, as an undeclared collection
    policy: Policy | None = None  # None: the server's --policies / --default-policy
    resolver: str | None = None  # "package.module:function", a custom conflict resolver
    version: int = 1  # the app version this collection's current schema belongs to
    upgrade: str | None = None  # "package.module:function" (Upgrade)
    read: tuple[str, ...] = (ANYONE,)
    create: tuple[str, ...] = (ANYONE,)
    update: tuple[str, ...] = (ANYONE,)
    delete: tuple[str, ...] = (ANYONE,)

    def roles_for(self, operation: str) -> tuple[str, ...]:
        return getattr(self, operation)  # type: ignore[no-any-return]

    def restricted(self) -> bool:
        """Whether any operation asks for more than the space grant."""
        return any(self.roles_for(op) != (ANYONE,) for op in OPERATIONS)

    def served(self) -> dict[str, Any]:
        """The collection as GET /v1/collections and `collections check` show it."""
        return {"policy": self.policy.value if self.policy else None,
                "version": self.version,
                "schema": self.schema.schema if self.schema else None,
                **{op: list(self.roles_for(op)) for op in OPERATIONS}}


@dataclass(frozen=True)
class Declared:
    """The whole file. `collections` is empty when no file is given: everything as before."""

    collections: dict[str, CollectionSpec] = field(default_factory=dict)
    app_version: int = 1
    min_app_version: int = 1
    undeclared: str = "allow"  # no file: every collection is open, as before
    source: str = ""  # the file it was read from ("" : none)
    upgrades: dict[str, Upgrade] = field(default_factory=dict)  # collection -> function
    resolvers: dict[str, Resolver] = field(default_factory=dict)  # collection -> function

    @property
    def declared(self) -> bool:
        return bool(self.source)

    def spec(self, collection: str) -> CollectionSpec | None:
        return self.collections.get(collection)

    def restricted(self) -> bool:
        """Whether some operation of some collection asks for a role (auth must be on)."""
        return any(spec.restricted() for spec in self.collections.values())

    def served(self) -> dict[str, Any]:
        """The file as GET /v1/collections serves it (canonical: keys sorted when dumped)."""
        return {"declared": self.declared, "app_version": self.app_version,
                "min_app_version": self.min_app_version, "undeclared": self.undeclared,
                "collections": {name: spec.served()
                                for name, spec in sorted(self.collections.items())}}


NONE_DECLARED = Declared()


def load_collections(path: str | Path) -> Declared:
    """Read and check a collections file (TOML by a .toml name, JSON by a .json one)."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CollectionsFileError(f"{where}: cannot be read ({exc.strerror}): give the path "
                                   "of a readable collections file") from None
    if path.suffix == ".toml":
        try:
            document: Any = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CollectionsFileError(f"{where}: not valid TOML: {exc}") from None
    elif path.suffix == ".json":
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise CollectionsFileError(f"{where}: not valid JSON: {exc}") from None
    else:
        raise CollectionsFileError(f"{where}: name the file .toml or .json, so that its "
                                   "format is known")
    return parse_collections(document, where)


def parse_collections(document: Any, where: str = "collections") -> Declared:
    """A Declared from the file's parsed content; CollectionsFileError names what is wrong."""
    if not isinstance(document, dict):
        raise CollectionsFileError(f"{where}: the file holds one object (a TOML document)")
    _no_unknown_keys(document, _FILE_KEYS, where)
    app_version = _version(document, "app_version", 1, where)
    min_app_version = _version(document, "min_app_version", 1, where)
    if min_app_version > app_version:
        raise CollectionsFileError(
            f"{where}: min_app_version {min_app_version} is above app_version {app_version}: "
            "no app could write; lower min_app_version")
    undeclared = document.get("undeclared", "reject")
    if undeclared not in UNDECLARED:
        raise CollectionsFileError(f"{where}: undeclared is {undeclared!r}: use "
                                   "\"reject\" or \"allow\"")
    tables = document.get("collections", {})
    if not isinstance(tables, dict):
        raise CollectionsFileError(f"{where}: collections is a table of collections by name")
    specs: dict[str, CollectionSpec] = {}
    upgrades: dict[str, Upgrade] = {}
    resolvers: dict[str, Resolver] = {}
    for name, table in tables.items():
        place = f"{where}: collections.{name}"
        spec = _collection(name, table, place, app_version)
        specs[name] = spec
        if spec.upgrade is not None:
            upgrades[name] = _load_upgrade(spec.upgrade, place)
        if spec.resolver is not None:
            try:
                resolvers[name] = load_resolver(spec.resolver)
            except ValueError as exc:
                raise CollectionsFileError(f"{place}.resolver: {exc}") from None
    return Declared(specs, app_version, min_app_version, undeclared, where, upgrades,
                    resolvers)


def _collection(name: str, table: Any, place: str, app_version: int) -> CollectionSpec:
    if SPACE_PATTERN.fullmatch(name) is None:  # collections are named as spaces are
        raise CollectionsFileError(f"{place}: a collection name matches "
                                   f"{SPACE_PATTERN.pattern}")
    if not isinstance(table, dict):
        raise CollectionsFileError(f"{place}: a collection is a table of its settings")
    _no_unknown_keys(table, _COLLECTION_KEYS, place)
    schema = None
    if "schema" in table:
        try:
            schema = RecordSchema(table["schema"])
        except ValueError as exc:
            raise CollectionsFileError(f"{place}.schema: {exc}") from None
    policy = None
    if "policy" in table:
        try:
            policy = Policy(table["policy"])
        except ValueError:
            names = ", ".join(p.value for p in Policy if p is not Policy.CUSTOM)
            raise CollectionsFileError(f"{place}.policy: {table['policy']!r} is no conflict "
                                       f"policy: use one of {names}") from None
        if policy is Policy.CUSTOM:
            raise CollectionsFileError(f"{place}.policy: name the function in `resolver` "
                                       "instead of policy \"custom\"")
    version = _version(table, "version", 1, place)
    if version > app_version:
        raise CollectionsFileError(f"{place}.version: {version} is above the file's "
                                   f"app_version {app_version}: raise app_version")
    roles = {op: _roles(table, op, place) for op in OPERATIONS}
    if OWNER in roles["create"]:
        raise CollectionsFileError(f"{place}.create: \"owner\" cannot create (a record has "
                                   "no creator before it is created): name roles, or \"*\"")
    return CollectionSpec(name, schema, policy, _path(table, "resolver", place), version,
                          _path(table, "upgrade", place), **roles)


def _no_unknown_keys(table: dict[str, Any], known: set[str], place: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise CollectionsFileError(f"{place}: unknown key {unknown[0]!r}: the keys are "
                                   f"{', '.join(sorted(known))}")


def _version(table: dict[str, Any], key: str, default: int, place: str) -> int:
    value = table.get(key, default)
    if type(value) is not int or not 1 <= value <= 2**31 - 1:
        raise CollectionsFileError(f"{place}: {key} is {value!r}: a whole number from 1")
    return value


def _roles(table: dict[str, Any], op: str, place: str) -> tuple[str, ...]:
    value = table.get(op, [ANYONE])
    if not isinstance(value, list) or not value or not all(
            isinstance(role, str) and role for role in value):
        raise CollectionsFileError(f"{place}.{op}: a non-empty list of role names "
                                   "(\"*\": anyone the space grants, \"owner\": the record's "
                                   "creator)")
    if ANYONE in value and len(value) > 1:
        raise CollectionsFileError(f"{place}.{op}: \"*\" already lets everyone: give it alone")
    return tuple(dict.fromkeys(value))


def _path(table: dict[str, Any], key: str, place: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or ":" not in value:
        raise CollectionsFileError(f"{place}.{key}: a Python function as "
                                   "\"package.module:function\"")
    return value


def _load_upgrade(path: str, place: str) -> Upgrade:
    module_name, _, attr = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CollectionsFileError(f"{place}.upgrade: {path!r} cannot be loaded ({exc}): is "
                                   "its package on the server's Python path?") from None
    if not callable(function):
        raise CollectionsFileError(f"{place}.upgrade: {path!r} is not a function")
    return function  # type: ignore[no-any-return]
