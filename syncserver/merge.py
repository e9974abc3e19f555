"""The conflict engine: what a mutation does to a record, under the collection's policy.

Pure functions, no storage. Every record carries per-field metadata, `meta`:
`{"f": {field: [version, hlc]}, "d": [version, hlc], "s": {field: {element: [hlc, 0|1]}}}`
- the version and HLC stamp of the last write of each top-level field, of the deleted flag
("d"), and of each element of a set field ("s"). With it a stale mutation can be merged
three-way without keeping old versions: a field changed on the server since the
mutation's base has a version above the base. Tombstones keep their last data (the feed
shows `data: null`), so a delete and a concurrent update settle the same in either order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import commutative
from .mutations import Mutation, merge_patch
from .policies import ConflictContext, Policy, PolicyTable

ABSENT: Any = object()
NO_STAMP = [0, ""]


@dataclass
class State:
    data: dict[str, Any]
    deleted: bool
    version: int
    hlc: str
    meta: dict[str, Any]


@dataclass
class Decision:
    status: str  # applied | merged | conflict | open | rejected
    state: State | None = None  # the new state when the mutation changed the record
    winner: str | None = None  # client | server | both | custom, for stale mutations
    fields: list[dict[str, str]] = field(default_factory=list)  # per-field outcomes
    conflicted: bool = False  # both sides wrote differing values: goes to the audit
    base_unknown: bool = False
    message: str = ""


class ResolverFailed(Exception):
    pass


class _Draft:
    """A copy of the current state that the client's writes are applied to."""

    def __init__(self, current: State, version: int, stamp: str) -> None:
        self.data = dict(current.data)
        self.deleted = current.deleted
        self.fmeta: dict[str, list[Any]] = dict(current.meta.get("f", {}))
        self.dmeta: list[Any] = current.meta.get("d", NO_STAMP)
        self.smeta: dict[str, Any] = dict(current.meta.get("s", {}))
        self.version = version
        self.stamp = stamp
        self.wrote = False

    def write(self, name: str, value: Any) -> None:
        if value is ABSENT:
            self.data.pop(name, None)
        else:
            self.data[name] = value
        self.fmeta[name] = [self.version, self.stamp]
        self.wrote = True

    def set_deleted(self, deleted: bool) -> None:
        self.deleted = deleted
        self.dmeta = [self.version, self.stamp]
        self.wrote = True

    def state(self, current: State) -> State:
        meta: dict[str, Any] = {"f": self.fmeta, "d": self.dmeta}
        if self.smeta:
            meta["s"] = self.smeta
        return State(self.data, self.deleted, self.version, max(current.hlc, self.stamp), meta)


def _split(m: Mutation) -> tuple[dict[str, Any], list[tuple[str, str, Any]], str | None]:
    """Plain field values and commutative operations of a mutation (ops only in patch)."""
    if m.op != "patch":
        return (m.data or {}), [], None
    plain: dict[str, Any] = {}
    ops: list[tuple[str, str, Any]] = []
    for name, value in m.data.items():
        op = commutative.operator_of(value)
        if op is None:
            plain[name] = value
            continue
        arg = value[op]
        problem = commutative.check(name, op, arg)
        if problem:
            return {}, [], problem
        ops.append((name, op, arg))
    return plain, ops, None


def _intended(current: State, m: Mutation, plain: dict[str, Any]) -> dict[str, Any]:
    """The full data the client means: put replaces; patch applies to what it last saw
    (nothing, when it saw a tombstone)."""
    if m.op == "put":
        return plain
    if m.op == "patch":
        return merge_patch({} if current.deleted else current.data, plain)  # type: ignore[no-any-return]
    return current.data


def _write_all(draft: _Draft, current: State, m: Mutation, intended: dict[str, Any]) -> None:
    """The client's write taken whole. Only the fields it writes get its stamp: a patch
    touches its own keys (all keys when it revives a tombstone), a put every key, a delete
    none (the tombstone keeps its data)."""
    if m.op == "put" or (m.op == "patch" and current.deleted):
        # every field the record ever had: a removed field is written too (as absent)
        names = current.data.keys() | intended.keys() | current.meta.get("f", {}).keys()
    elif m.op == "patch":
        plain = {k for k, v in m.data.items() if commutative.operator_of(v) is None}
        names = plain & (current.data.keys() | intended.keys())
    else:
        names = set()
    for name in names:
        draft.write(name, intended.get(name, ABSENT))
    draft.set_deleted(m.op == "delete")


def _apply_ops(draft: _Draft, ops: list[tuple[str, str, Any]]) -> None:
    for name, op, arg in ops:
        if op == "$inc":
            draft.data[name] = commutative.increment(draft.data.get(name), arg)
        else:
            value, meta = commutative.apply_set_op(draft.data.get(name), draft.smeta.get(name),
                                                   op, arg, draft.stamp)
            draft.data[name] = value
            draft.smeta[name] = meta
        draft.wrote = True


def _merge_fields(draft: _Draft, current: State, m: Mutation, plain: dict[str, Any],
                  base_unknown: bool) -> tuple[list[dict[str, str]], bool]:
    """Three-way, field by field; a field written on both sides goes to the later HLC."""
    if m.op == "put":
        names = current.data.keys() | plain.keys() | current.meta.get("f", {}).keys()
    else:
        names = plain.keys()
    outcomes: list[dict[str, str]] = []
    conflicted = False
    fmeta = current.meta.get("f", {})
    for name in sorted(names):
        server_value = current.data.get(name, ABSENT)
        if m.op == "put":
            client_value = plain.get(name, ABSENT)
        else:
            patched = merge_patch({name: server_value} if server_value is not ABSENT else {},
                                  {name: plain[name]})
            client_value = patched.get(name, ABSENT)
        version, stamp = fmeta.get(name, NO_STAMP)
        if version <= m.base_version and not base_unknown:
            draft.write(name, client_value)  # only the client changed it
            continue
        differs = client_value != server_value
        if draft.stamp > stamp:
            draft.write(name, client_value)
            winner = "client"
        else:
            winner = "server"
        if differs:
            conflicted = True
            outcomes.append({"field": name, "winner": winner})
    # The deleted flag is one more last-writer-wins field.
    version, stamp = current.meta.get("d", NO_STAMP)
    wants_deleted = m.op == "delete"
    changed_on_server = version > m.base_version or base_unknown
    if not changed_on_server or draft.stamp > stamp:
        if changed_on_server and wants_deleted != current.deleted:
            conflicted = True
            outcomes.append({"field": "_deleted", "winner": "client"})
        draft.set_deleted(wants_deleted)
    elif wants_deleted != current.deleted:
        conflicted = True
        outcomes.append({"field": "_deleted", "winner": "server"})
    return outcomes, conflicted


def decide(policies: PolicyTable, current: State | None, m: Mutation, stamp: str,
           client_id: str) -> Decision:
    try:
        return _decide(policies, current, m, stamp, client_id)
    except commutative.OutOfRange as exc:  # a counter the record cannot hold: this one only
        return Decision("rejected", message=str(exc))


def _decide(policies: PolicyTable, current: State | None, m: Mutation, stamp: str,
            client_id: str) -> Decision:
    if current is None and m.op == "put" and m.base_version == 0:
        # The hot path of a first sync: a new record, nothing to merge.
        meta = {"f": {name: [1, stamp] for name in m.data}, "d": [1, stamp]}
        return Decision("applied", State(m.data, False, 1, stamp, meta))
    cur = current or State({}, False, 0, "", {})
    plain, ops, problem = _split(m)
    if problem:
        return Decision("rejected", message=problem)
    draft = _Draft(cur, cur.version + 1, stamp)
    intended = _intended(cur, m, plain)
    if m.base_version == cur.version:
        _write_all(draft, cur, m, intended)
        _apply_ops(draft, ops)
        return Decision("applied", draft.state(cur))

    base_unknown = m.base_version > cur.version
    policy = policies.policy(m.collection)
    decision = Decision("merged", base_unknown=base_unknown)
    if policy is Policy.MERGE:
        decision.fields, decision.conflicted = _merge_fields(draft, cur, m, plain, base_unknown)
        writes = {o["winner"] for o in decision.fields}
        decision.winner = writes.pop() if len(writes) == 1 else ("both" if writes else None)
    elif policy is Policy.LWW or policy is Policy.CLIENT_WINS:
        client_wins = policy is Policy.CLIENT_WINS or stamp > cur.hlc
        if client_wins:
            _write_all(draft, cur, m, intended)
        decision.winner = "client" if client_wins else "server"
        decision.conflicted = True
    elif policy is Policy.SERVER_WINS:
        decision.winner, decision.conflicted = "server", True
    elif policy is Policy.MANUAL:
        decision.status, decision.winner, decision.conflicted = "open", "server", True
    else:
        data = _run_resolver(policies, cur, m, client_id, stamp)
        _write_all(draft, cur, _as_put(m, data), data or cur.data)
        decision.winner, decision.conflicted = "custom", True
    _apply_ops(draft, ops)
    if draft.wrote:
        decision.state = draft.state(cur)
    elif decision.status == "merged":
        decision.status = "conflict"
    return decision


def apply_whole(current: State, m: Mutation, stamp: str) -> State:
    """The mutation taken whole on top of `current`: how a resolution is written."""
    draft = _Draft(current, current.version + 1, stamp)
    plain, ops, _problem = _split(m)
    _write_all(draft, current, m, _intended(current, m, plain))
    _apply_ops(draft, ops)
    return draft.state(current)


def _as_put(m: Mutation, data: dict[str, Any] | None) -> Mutation:
    op = "delete" if data is None else "put"
    return Mutation(m.mid, m.space, m.collection, m.id, op, data, b"", m.base_version, m.hlc,
                    m.fingerprint)


def _run_resolver(policies: PolicyTable, cur: State, m: Mutation, client_id: str,
                  stamp: str) -> dict[str, Any] | None:
    fmeta = cur.meta.get("f", {})
    changed = frozenset(n for n, (v, _h) in fmeta.items() if v > m.base_version)
    ctx = ConflictContext(m.space, m.collection, m.id, m.base_version,
                          None if cur.deleted or cur.version == 0 else dict(cur.data),
                          cur.version, m.op, m.data, client_id, stamp, cur.hlc, changed)
    try:
        result = policies.resolvers[m.collection](ctx)
    except Exception as exc:  # the app's code: its failure rejects this mutation only
        raise ResolverFailed(f"the resolver for {m.collection} raised "
                             f"{type(exc).__name__}: {exc}") from exc
    if result is not None and not isinstance(result, dict):
        raise ResolverFailed(f"the resolver for {m.collection} returned "
                             f"{type(result).__name__}, expected a dict or None")
    return result
