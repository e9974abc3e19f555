"""The conflict engine: what a mutation does to a record, under the collection's policy.

Pure functions, no storage. Every record carries conflict metadata, `meta` (its shape and
the questions it answers are in recordmeta.py): the version and HLC stamp of the last plain
write of each top-level field and of the deleted flag, the record's last writer, and the
last commutative operation of each field. With it a stale mutation is merged three-way
without keeping old versions, and judged against what its client had actually seen: a
change made since its `base_version` is concurrent only when someone else made it (a
client's own earlier queued writes are not, protocol 2). Tombstones keep their last data
(the feed shows `data: null`), so a delete and a concurrent update settle the same in
either order.

Commutative operations meet plain writes through the field's epoch, its last plain write:
an operation whose writer had seen the epoch applies on top of it; one whose writer had not
is absorbed by it (recorded in the audit). A plain write is settled like any field write,
against plain writes only, so a counter or a set settles the same in every arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import exact_json, recordmeta
from ..model.hlc import node_of
from ..model.mutations import Mutation, merge_patch
from ..model.policies import ConflictContext, Policy, PolicyTable
from ..model.recordmeta import field_changed_by_others, tag_changed_by_others
from ..model.records import StoredRecord
from . import commutative

ABSENT: Any = object()
NO_STAMP: list[Any] = [0, ""]


@dataclass
class State:
    data: dict[str, Any]
    deleted: bool
    version: int
    hlc: str
    meta: dict[str, Any]

    @classmethod
    def of(cls, record: StoredRecord | None) -> State:
        """The state of a stored record, its data and metadata parsed (the data once); of
        no record, the empty state: version 0, nothing written."""
        if record is None:
            return cls({}, False, 0, "", {})
        data = record.parsed_data()
        return cls(data, record.deleted, record.version, record.hlc, record.parsed_meta(data))


@dataclass
class Decision:
    status: str  # applied | merged | conflict | open | rejected
    state: State | None = None  # the new state when the mutation changed the record
    winner: str | None = None  # client | server | both | custom, for stale mutations
    fields: list[dict[str, str]] = field(default_factory=list)  # per-field outcomes
    conflicted: bool = False  # both sides wrote differing values: goes to the audit
    base_unknown: bool = False
    message: str = ""
    code: str = "invalid_mutation"  # of a rejection (an ErrorCode's value)
    extra: dict[str, str] = field(default_factory=dict)  # more of a rejection: its field


class ResolverFailed(Exception):
    pass


class _Draft:
    """A copy of the current state that the client's writes are applied to."""

    def __init__(self, current: State, version: int, stamp: str) -> None:
        meta = current.meta
        self.data = dict(current.data)
        self.deleted = current.deleted
        self.fmeta: dict[str, list[Any]] = dict(meta.get("f", {}))
        self.dmeta: list[Any] = meta.get("d", NO_STAMP)
        self.pmeta: dict[str, list[Any]] = dict(meta.get("p", {}))
        self.emeta: dict[str, Any] = dict(meta.get("e", {}))  # the pre-"e" "s" is dropped
        self.version = version
        self.stamp = stamp
        self.wrote = False

    def write(self, name: str, value: Any) -> None:
        if value is ABSENT:
            self.data.pop(name, None)
        else:
            self.data[name] = value
        self.fmeta[name] = [self.version, self.stamp]
        # a new epoch: the operations on the field before it are part of its value now
        self.pmeta.pop(name, None)
        self.emeta.pop(name, None)
        self.wrote = True

    def set_deleted(self, deleted: bool) -> None:
        self.deleted = deleted
        self.dmeta = [self.version, self.stamp]
        self.wrote = True

    def state(self, current: State) -> State:
        writer, other = recordmeta.next_writers(current.meta, current.version,
                                                node_of(self.stamp))
        meta: dict[str, Any] = {"f": self.fmeta, "d": self.dmeta, "w": writer, "x": other}
        if self.pmeta:
            meta["p"] = self.pmeta
        if self.emeta:
            meta["e"] = self.emeta
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
    none (the tombstone keeps its data). A patch of operations only writes no plain value
    and not the deleted flag: operations never revive a record, nor keep it alive against a
    concurrent delete (they change a tombstone's kept data), or a delete and an increment
    would settle by arrival order."""
    if _only_operations(m):
        return
    if m.op == "put" or (m.op == "patch" and current.deleted):
        # every field the record ever had: a removed field is written too (as absent)
        names = current.data.keys() | intended.keys() | current.meta.get("f", {}).keys()
        if m.op == "patch":
            names |= m.data.keys()
    elif m.op == "patch":
        # its own keys, a removal of a field the record lacks too: a concurrent write that
        # adds the field with an older stamp must lose to it in either arrival order
        names = {k for k, v in m.data.items() if commutative.operator_of(v) is None}
    else:
        names = set()
    for name in names:
        draft.write(name, intended.get(name, ABSENT))
    draft.set_deleted(m.op == "delete")


def _only_operations(m: Mutation) -> bool:
    return m.op == "patch" and all(commutative.operator_of(v) is not None
                                   for v in m.data.values())


def _apply_ops(draft: _Draft, ops: list[tuple[str, str, Any]], base: int,
               client: str) -> list[str]:
    """Apply the commutative operations; the names of those absorbed by a plain write of
    their field that their writer had not seen (the caller records them)."""
    absorbed = []
    for name, op, arg in ops:
        epoch = draft.fmeta.get(name)
        if not recordmeta.saw_epoch(epoch, base, client):
            absorbed.append(name)
            continue
        if op == "$inc":
            draft.data[name] = commutative.increment(name, draft.data.get(name), arg)
        else:
            value, tags = commutative.apply_set_op(name, draft.data.get(name),
                                                   draft.emeta.get(name), op, arg,
                                                   draft.version, draft.stamp, base, epoch)
            draft.data[name] = value
            if tags:
                draft.emeta[name] = tags
            else:
                draft.emeta.pop(name, None)
        draft.pmeta[name] = recordmeta.retag(draft.pmeta.get(name), draft.version, draft.stamp)
        draft.wrote = True
    return absorbed


def _merge_fields(draft: _Draft, current: State, m: Mutation, plain: dict[str, Any],
                  base_unknown: bool, client: str) -> tuple[list[dict[str, str]], bool]:
    """Three-way, field by field; a field written on both sides goes to the later HLC
    stamp of a plain write (operations do not move it: see the module's docstring)."""
    old = recordmeta.legacy(current.meta, current.version)
    base = m.base_version
    pmeta = current.meta.get("p", {})
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
        entry = fmeta.get(name)
        if not (base_unknown or field_changed_by_others(entry, base, client, old)
                or tag_changed_by_others(pmeta.get(name), base, client)):
            draft.write(name, client_value)  # no one else changed it
            continue
        stamp = (entry or NO_STAMP)[1]
        differs = client_value != server_value
        if draft.stamp > stamp:
            draft.write(name, client_value)
            winner = "client"
        else:
            winner = "server"
        if differs:
            conflicted = True
            outcomes.append({"field": name, "winner": winner})
    # The deleted flag is one more last-writer-wins field (not written by operations).
    if _only_operations(m):
        return outcomes, conflicted
    entry = current.meta.get("d", NO_STAMP)
    stamp = entry[1]
    wants_deleted = m.op == "delete"
    changed_on_server = base_unknown or field_changed_by_others(entry, base, client, old)
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
    except commutative.Unappliable as exc:  # an operation the record cannot take: this one only
        return Decision("rejected", message=str(exc), code=exc.code, extra=exc.extra)


def _decide(policies: PolicyTable, current: State | None, m: Mutation, stamp: str,
            client_id: str) -> Decision:
    writer = node_of(stamp)  # the client id (push checks it): the writer of what it writes
    if current is None and m.op == "put" and m.base_version == 0:
        # The hot path of a first sync: a new record, nothing to merge.
        meta = {"f": {name: [1, stamp] for name in m.data}, "d": [1, stamp], "w": writer,
                "x": 0}
        return Decision("applied", State(m.data, False, 1, stamp, meta))
    cur = current or State.of(None)
    plain, ops, problem = _split(m)
    if problem:
        return Decision("rejected", message=problem)
    draft = _Draft(cur, cur.version + 1, stamp)
    intended = _intended(cur, m, plain)
    base = m.base_version
    if base == cur.version or (base < cur.version and not recordmeta.record_changed_by_others(
            cur.meta, cur.version, base, writer)):
        # The client saw the current version, or every change since its base is its own
        # (its earlier queued writes): nothing concurrent to settle.
        _write_all(draft, cur, m, intended)
        _apply_ops(draft, ops, base, writer)  # saw every epoch: absorbs nothing
        return Decision("applied", draft.state(cur))

    base_unknown = base > cur.version
    policy = policies.policy(m.collection)
    decision = Decision("merged", base_unknown=base_unknown)
    if policy is Policy.MERGE:
        decision.fields, decision.conflicted = _merge_fields(draft, cur, m, plain, base_unknown,
                                                             writer)
    elif policy is Policy.LWW or policy is Policy.CLIENT_WINS:
        client_wins = policy is Policy.CLIENT_WINS or stamp > _plain_stamp(cur)
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
        # {} is a result (a record with no fields); only None means delete
        _write_all(draft, cur, _as_put(m, data), cur.data if data is None else data)
        decision.winner, decision.conflicted = "custom", True
    for name in _apply_ops(draft, ops, base, writer):
        decision.fields.append({"field": name, "winner": "server"})
        decision.conflicted = True
    if policy is Policy.MERGE:
        writes = {o["winner"] for o in decision.fields}
        decision.winner = writes.pop() if len(writes) == 1 else ("both" if writes else None)
    if draft.wrote:
        decision.state = draft.state(cur)
    elif decision.status == "merged":
        decision.status = "conflict"
    return decision


def _plain_stamp(cur: State) -> str:
    """The stamp of the record's last plain write: what a whole-record last-writer-wins
    compares with (operations do not count, or a plain write and a concurrent operation
    would settle by arrival order)."""
    fields = cur.meta.get("f", {})
    stamps = [entry[1] for entry in fields.values()]
    stamps.append(cur.meta.get("d", NO_STAMP)[1])
    return max(stamps) if cur.meta else cur.hlc


def apply_whole(current: State, m: Mutation, stamp: str) -> State:
    """The mutation taken whole on top of `current`: how a resolution is written."""
    draft = _Draft(current, current.version + 1, stamp)
    plain, ops, _problem = _split(m)
    _write_all(draft, current, m, _intended(current, m, plain))
    _apply_ops(draft, ops, current.version, node_of(stamp))
    return draft.state(current)


def _as_put(m: Mutation, data: dict[str, Any] | None) -> Mutation:
    op = "delete" if data is None else "put"
    return Mutation(m.mid, m.space, m.collection, m.id, op, data, b"", m.base_version, m.hlc,
                    m.fingerprint)


def _run_resolver(policies: PolicyTable, cur: State, m: Mutation, client_id: str,
                  stamp: str) -> dict[str, Any] | None:
    fmeta, pmeta = cur.meta.get("f", {}), cur.meta.get("p", {})
    old, base, writer = recordmeta.legacy(cur.meta, cur.version), m.base_version, node_of(stamp)
    changed = frozenset(
        n for n in fmeta.keys() | pmeta.keys()
        if field_changed_by_others(fmeta.get(n), base, writer, old)
        or tag_changed_by_others(pmeta.get(n), base, writer))
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
    problem = None if result is None else exact_json.unfaithful(result)
    if problem is not None:  # it would fail to encode, or be stored as another value
        raise ResolverFailed(f"the resolver for {m.collection} returned data that JSON "
                             f"cannot carry faithfully: {problem}")
    return result
