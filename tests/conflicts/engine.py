"""Drive the conflict engine (syncserver.core.merge) the way push does, without a server:
for the property tests, which run thousands of arrival orders."""

from __future__ import annotations

from typing import Any

import orjson

from syncserver.core.merge import Decision, State, decide
from syncserver.model.mutations import Mutation, parse_mutation
from syncserver.model.policies import PolicyTable


def make(mid: int, op: str, data: Any, base: int, ms: int, node: str,
         record_id: str = "r1", collection: str = "c") -> Mutation:
    raw = {"mid": mid, "space": "s", "collection": collection, "id": record_id, "op": op,
           "base_version": base, "hlc": f"{ms:013d}:00000:{node}"}
    if op != "delete":
        raw["data"] = data
    parsed = parse_mutation(raw, 1_000_000)
    assert isinstance(parsed, Mutation), parsed.message
    return parsed


def step(policies: PolicyTable, state: State | None, m: Mutation) -> tuple[Decision, State | None]:
    """One mutation as push applies it: its decision and the state after it (round-tripped
    through JSON, as storage does). A decision with `conflicted` is an audit entry."""
    decision = decide(policies, state, m, m.hlc, m.hlc[20:])  # the node is the client id
    if decision.state is None:
        return decision, state
    s = decision.state
    return decision, State(orjson.loads(orjson.dumps(s.data)), s.deleted, s.version, s.hlc,
                           orjson.loads(orjson.dumps(s.meta)))


def run(policies: PolicyTable, mutations: list[Mutation],
        start: State | None = None) -> State | None:
    """Apply mutations in the given order; the final state (round-tripped through JSON,
    as storage does)."""
    state = start
    for m in mutations:
        _decision, state = step(policies, state, m)
    return state


def visible(state: State | None) -> bytes:
    """What a reader of the feed sees, canonical (key order is not part of JSON equality)."""
    if state is None:
        return b"absent"
    return orjson.dumps({"deleted": state.deleted, "data": None if state.deleted else state.data},
                        option=orjson.OPT_SORT_KEYS)
