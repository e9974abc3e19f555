"""What a declared collections file (--collections, docs/collections.md) asks of a push's
mutations, around the merge. Before it: the collection is declared (unless the file allows
undeclared ones), the writer's app version is one the server still accepts, and data
written by an older app version is upgraded by the collection's upgrade function. After it:
the record as it will be stored, unless it is a tombstone, validates against the
collection's schema.

Every refusal here is the mutation's deterministic answer, stored as its result: a replay
gets the same answer. A server without a file has no Admission (apply_batch's `admission`
is None): that test is all a push pays for the feature.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..collections.declared import Declared, Upgrade
from ..collections.schema import RecordSchema, SchemaProblem
from ..model import exact_json, incidents
from ..model.errors import ErrorCode
from ..model.mutations import DEFAULT_MAX_DEPTH, MAX_APP_VERSION, Mutation, data_problem


class Refused(NamedTuple):
    """A mutation's rejection: its code, message and more fields of the result."""

    code: ErrorCode
    message: str
    extra: dict[str, str]


class _Upgrade(NamedTuple):
    function: Upgrade
    version: int  # the collection's current version: data of older app versions is upgraded
    name: str  # "package.module:function", as the file names it


def schema_message(record_id: str, collection: str, problem: SchemaProblem) -> str:
    """The words of a `schema_invalid` rejection (a push's result, a resolution's 422)."""
    where = problem.pointer or "its root"
    return (f"record {record_id} would not match the schema of collection {collection} at "
            f"{where}: {problem.message}; fix the record's data, or the collection's schema "
            "in the collections file")


def schema_refusal(record_id: str, collection: str, schema: RecordSchema,
                   data: dict[str, Any]) -> Refused:
    """The rejection of a record `data` that `schema` found invalid (its `valid`)."""
    problem = schema.problem(data) or SchemaProblem("", "it does not match")  # (never seen)
    return Refused(ErrorCode.SCHEMA_INVALID, schema_message(record_id, collection, problem),
                   {"pointer": problem.pointer})


class Admission:
    """The collections file's checks, prepared once for the server's life."""

    __slots__ = ("floors", "max_depth", "max_record_bytes", "min_app_version", "names",
                 "reject_undeclared", "schemas", "undeclared_floor", "upgrades")

    def __init__(self, declared: Declared, max_record_bytes: int,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.names = frozenset(declared.collections)
        self.reject_undeclared = declared.undeclared == "reject"
        self.min_app_version = declared.min_app_version
        # Only the collections that have one: a lookup that misses is the common answer.
        self.schemas: dict[str, RecordSchema] = {
            name: spec.schema for name, spec in declared.collections.items()
            if spec.schema is not None}
        self.upgrades: dict[str, _Upgrade] = {
            name: _Upgrade(function, declared.collections[name].version,
                           declared.collections[name].upgrade or name)
            for name, function in declared.upgrades.items()}
        self.max_record_bytes = max_record_bytes
        self.max_depth = max_depth
        # The app version from which a write of a collection needs nothing of admit(): the
        # common write is one lookup and one comparison, no call. An undeclared collection
        # that is refused has a floor no app version reaches.
        self.floors = {name: max(self.min_app_version,
                                 self.upgrades[name].version if name in self.upgrades else 1)
                       for name in self.names}
        self.undeclared_floor = MAX_APP_VERSION + 1 if self.reject_undeclared else \
            self.min_app_version

    def invalid(self, m: Mutation, data: dict[str, Any]) -> Refused | None:
        """Why the record `data`, as `m` would store it, breaks its collection's schema
        (None: it has none, or the record matches it)."""
        schema = self.schemas.get(m.collection)
        if schema is None or schema.valid(data):
            return None
        return schema_refusal(m.id, m.collection, schema, data)

    def admit(self, m: Mutation) -> Mutation | Refused:
        """The mutation as it is to be decided (its data upgraded when its writer's app was
        older than its collection's schema), or why it is refused before any decision."""
        if m.app_version < self.min_app_version:
            return Refused(ErrorCode.UPGRADE_REQUIRED, (
                f"this write comes from app version {m.app_version}, older than the server "
                f"accepts (min_app_version {self.min_app_version}): reload the app to get "
                "its current version, and make the change again there"), {})
        if self.reject_undeclared and m.collection not in self.names:
            return Refused(ErrorCode.UNKNOWN_COLLECTION, (
                f"collection {m.collection} is not declared in the server's collections file, "
                "which refuses writes to undeclared collections: write to a declared "
                "collection, or declare this one in the file (or set undeclared = \"allow\")"),
                {})
        upgrade = self.upgrades.get(m.collection)
        if upgrade is not None and m.app_version < upgrade.version and m.op != "delete":
            return self._upgraded(m, upgrade)
        return m

    def _upgraded(self, m: Mutation, upgrade: _Upgrade) -> Mutation | Refused:
        """The mutation with its data upgraded: a put's whole data, a patch's patch (which
        may hold commutative operations). The function is the app's code: whatever it does
        wrong refuses this mutation only, `upgrade_failed`, naming it."""
        what = (f"the upgrade {upgrade.name} of collection {m.collection} (a {m.op} from app "
                f"version {m.app_version})")
        try:
            data = upgrade.function(m.data, m.app_version, m.op)
        except Exception as exc:  # the app's code: logged with its traceback for the operator
            error_id = incidents.report("upgrading a mutation's data", exc, upgrade=upgrade.name,
                                        collection=m.collection, id=m.id, mid=m.mid,
                                        app_version=m.app_version)
            return Refused(ErrorCode.UPGRADE_FAILED, (
                f"{what} raised {type(exc).__name__}: {exc} (error {error_id} in the server "
                "log); the write was not applied: the operator fixes the function"),
                {"error_id": error_id})
        if type(data) is not dict:
            return Refused(ErrorCode.UPGRADE_FAILED,
                           f"{what} returned {type(data).__name__}, not a dict", {})
        problem = exact_json.unfaithful(data)
        if problem is not None:
            return Refused(ErrorCode.UPGRADE_FAILED,
                           f"{what} returned data that JSON cannot carry faithfully: {problem}",
                           {})
        encoded, limit = data_problem(data, self.max_record_bytes, self.max_depth)
        if limit is not None:  # the limits of any mutation's data
            return Refused(limit.code, f"after {what}: {limit.message}", {})
        return Mutation(m.mid, m.space, m.collection, m.id, m.op, data, encoded,
                        m.base_version, m.hlc, m.fingerprint, m.app_version)
