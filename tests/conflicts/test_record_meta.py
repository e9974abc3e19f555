"""The record metadata (syncserver/model/recordmeta.py) across releases and compaction."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from syncserver.core.merge import State
from syncserver.model import recordmeta
from syncserver.model.policies import Policy, PolicyTable
from tests.conflicts.engine import make, run, step, visible


def test_a_record_stored_before_writers_were_tracked_is_judged_as_before() -> None:
    # meta without "w": every change since the base counts as someone else's, so a chain
    # of one device is settled like a stale write (as protocol 1 servers did), never lost
    stamp = "0000000000020:00000:dev"
    legacy = State({"a": 2}, False, 2, stamp,
                   {"f": {"a": [2, stamp]}, "d": [2, stamp]})
    table = PolicyTable(default=Policy.SERVER_WINS)
    decision, after = step(table, legacy, make(2, "patch", {"a": 3}, 1, 30, "dev"))
    assert decision.status == "conflict" and decision.conflicted
    merge = PolicyTable(default=Policy.MERGE)
    decision, after = step(merge, legacy, make(2, "patch", {"a": 3}, 1, 30, "dev"))
    assert decision.status == "merged" and after is not None and after.data == {"a": 3}
    assert after.meta["w"] == "dev" and after.meta["x"] == 2  # tracked from now on


def test_set_metadata_of_older_releases_is_dropped_and_the_set_kept() -> None:
    stamp = "0000000000020:00000:dev"
    old = State({"tags": ["p"]}, False, 2, stamp,
                {"f": {"tags": [1, stamp]}, "d": [1, stamp],
                 "s": {"tags": {'"p"': [stamp, 1], '"gone"': [stamp, 0]}}})
    table = PolicyTable(default=Policy.MERGE)
    _decision, after = step(table, old, make(1, "patch", {"tags": {"$add": ["q"]}}, 2, 30, "x"))
    assert after is not None and after.data == {"tags": ["p", "q"]} and "s" not in after.meta


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["$add", "$remove", "plain", "drop"]),
                          st.lists(st.sampled_from(["p", "q", "r"]), max_size=2)),
                min_size=1, max_size=6),
       st.lists(st.tuples(st.sampled_from(["$add", "$remove", "$inc"]),
                          st.lists(st.sampled_from(["p", "q", "r"]), max_size=2)),
                min_size=1, max_size=3))
def test_compacted_metadata_gives_the_same_results_to_current_writers(history, later) -> None:
    # Compaction drops what only a writer older than the horizon could need: writers that
    # saw the compacted version get the same results with or without it.
    table = PolicyTable(default=Policy.MERGE)
    state = run(table, [make(1, "put", {"tags": [], "n": 0, "gone": 1}, 0, 1, "origin")])
    for i, (op, elements) in enumerate(history):
        data: dict = ({"tags": elements} if op == "plain" else {"gone": None} if op == "drop"
                      else {"tags": {op: elements}, "n": {"$inc": 1}})
        state = run(table, [make(i + 1, "patch", data, i + 1, 10 + i, f"c{i % 3}")], state)
    assert state is not None
    meta = orjson.dumps(state.meta).decode()
    smaller = recordmeta.compact(meta, orjson.dumps(state.data).decode(), 10**12)
    compacted = State(state.data, state.deleted, state.version, state.hlc,
                      orjson.loads(smaller) if smaller else state.meta)
    assert "e" not in compacted.meta and "p" not in compacted.meta
    assert "gone" not in compacted.meta["f"] or "gone" in state.data
    for i, (op, elements) in enumerate(later):
        data = {"n": {"$inc": 2}} if op == "$inc" else {"tags": {op: elements}}
        writes = [make(100 + i, "patch", data, state.version, 100 + i, f"late{i}")]
        assert visible(run(table, writes, state)) == visible(run(table, writes, compacted))
