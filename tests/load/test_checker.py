"""The checker on hand-made histories: each broken history must yield its anomaly, and a
correct one none."""

from __future__ import annotations

from typing import Any

from load.checker import ClientView, check
from load.recorder import Recorder

S = "sp"


def mutation(
    mid: int, rid: str, op: str, base: int, data: Any = None, node: str = "c1", at: int = 0
) -> dict[str, Any]:
    """``at``: milliseconds after a fixed instant, for the HLC stamp of client ``node``."""
    m = {
        "mid": mid,
        "space": S,
        "collection": "todos",
        "id": rid,
        "op": op,
        "base_version": base,
        "hlc": f"{1763756400000 + at:013d}:{mid:05d}:{node}",
    }
    if op != "delete":
        m["data"] = data
    return m


def record(rid: str, version: int, seq: int, data: Any, deleted: bool = False) -> dict[str, Any]:
    return {
        "space": S,
        "collection": "todos",
        "id": rid,
        "version": version,
        "seq": seq,
        "deleted": deleted,
        "data": data,
        "hlc": "1763756400000:00000:c1",
        "updated_at": 1,
    }


def history() -> tuple[Recorder, dict[str, Any]]:
    """c1 creates t1, patches it, a replay of the patch is deduplicated; c2 conflicts."""
    rec = Recorder()
    m1 = mutation(1, "t1", "put", 0, {"title": "milk", "done": False})
    m2 = mutation(2, "t1", "patch", 1, {"done": True})
    rec.sent("c1", [m1, m2])
    rec.answered(
        "c1",
        [
            {"mid": 1, "status": "applied", "version": 1, "seq": 1},
            {"mid": 2, "status": "applied", "version": 2, "seq": 2},
        ],
    )
    rec.sent("c1", [m2])
    rec.answered("c1", [{"mid": 2, "status": "applied", "version": 2, "seq": 2, "duplicate": True}])
    final = record("t1", 2, 2, {"title": "milk", "done": True})
    rec.sent("c2", [mutation(1, "t1", "patch", 1, {"title": "eggs"})])
    rec.answered(
        "c2", [{"mid": 1, "status": "conflict", "code": "stale_base_version", "record": final}]
    )
    rec.audit = [{"client_id": "c2", "mid": 1}]  # GET /v1/conflicts lists the overridden write
    return rec, final


def run(
    rec: Recorder,
    records: list[dict[str, Any]],
    clients: list[ClientView] | None = None,
    other_feed: list[dict[str, Any]] | None = None,
) -> list[str]:
    feeds = {"a": {S: records}}
    if other_feed is not None:
        feeds["b"] = {S: other_feed}
    verdict = check(rec, feeds, clients or [], [S])
    assert verdict.ok == (not verdict.anomalies)
    return sorted({a["kind"] for a in verdict.anomalies})


def store_of(*records: dict[str, Any]) -> dict:
    return {(r["space"], r["collection"], r["id"]): dict(r) for r in records}


def test_a_correct_history_is_clean():
    rec, final = history()
    client = ClientView("c1", [S], store_of(final))
    assert run(rec, [final], [client]) == []


def test_an_acknowledged_write_missing_from_the_server_is_reported():
    rec, _ = history()
    assert run(rec, []) == ["missing_record"]


def test_a_server_behind_an_acknowledged_version_is_reported():
    rec, _ = history()
    assert run(rec, [record("t1", 1, 1, {"title": "milk", "done": False})]) == ["lost_write"]


def test_a_patch_not_reflected_in_the_final_state_is_reported():
    rec, _ = history()
    assert run(rec, [record("t1", 2, 2, {"title": "milk", "done": False})]) == ["state_mismatch"]


def test_a_replay_applied_a_second_time_is_reported():
    rec, _ = history()
    rec.sent("c1", [rec.mutations[("c1", 2)]])
    rec.answered("c1", [{"mid": 2, "status": "applied", "version": 3, "seq": 3}])
    kinds = run(rec, [record("t1", 3, 3, {"title": "milk", "done": True})])
    assert "applied_twice" in kinds


def test_a_version_nobody_acknowledged_is_reported():
    # the server bumped the version without telling anyone (a silent double apply)
    rec, _ = history()
    assert run(rec, [record("t1", 3, 3, {"title": "milk", "done": True})]) == [
        "unacknowledged_version"
    ]


def test_a_replay_answered_with_a_different_result_is_reported():
    rec, final = history()
    rec.answered("c1", [{"mid": 1, "status": "applied", "version": 7, "seq": 9, "duplicate": True}])
    assert run(rec, [final]) == ["replay_result_differs"]


def test_a_mutation_never_answered_is_reported_and_its_record_not_judged():
    rec, _ = history()
    rec.sent("c3", [mutation(1, "t1", "patch", 2, {"done": False})])
    verdict = check(
        rec, {"a": {S: [record("t1", 3, 3, {"title": "milk", "done": False})]}}, [], [S]
    )
    assert [a["kind"] for a in verdict.anomalies] == ["unanswered"]
    assert [w["kind"] for w in verdict.warnings] == ["unverifiable"]


def test_merged_results_are_reflected_through_their_record():
    rec, _ = history()
    merged = record("t1", 3, 3, {"title": "eggs", "done": True})
    rec.sent("c4", [mutation(1, "t1", "patch", 1, {"title": "eggs"})])
    rec.answered("c4", [{"mid": 1, "status": "merged", "record": merged}])
    assert run(rec, [merged]) == []
    assert run(rec, [record("t1", 3, 3, {"title": "milk", "done": True})]) == ["state_mismatch"]


def test_two_mutations_acknowledged_at_the_same_version_are_reported():
    rec, final = history()
    rec.sent("c5", [mutation(1, "t1", "put", 1, {"title": "x"})])
    rec.answered("c5", [{"mid": 1, "status": "applied", "version": 2, "seq": 2}])
    assert "version_collision" in run(rec, [final])


def test_deletes_leave_a_tombstone():
    rec = Recorder()
    rec.sent("c1", [mutation(1, "t9", "put", 0, {"a": 1}), mutation(2, "t9", "delete", 1)])
    rec.answered(
        "c1",
        [
            {"mid": 1, "status": "applied", "version": 1, "seq": 1},
            {"mid": 2, "status": "applied", "version": 2, "seq": 2},
        ],
    )
    assert run(rec, [record("t9", 2, 2, None, deleted=True)]) == []
    assert run(rec, [record("t9", 2, 2, {"a": 1})]) == ["state_mismatch"]


def test_a_client_that_differs_from_the_server_is_reported():
    rec, final = history()
    stale = ClientView("c2", [S], store_of(record("t1", 1, 1, {"title": "milk", "done": False})))
    empty = ClientView("c3", [S], {})
    kinds = check(rec, {"a": {S: [final]}}, [stale, empty], [S]).anomalies
    assert [(a["kind"], a["client_id"]) for a in kinds] == [
        ("client_diverged", "c2"),
        ("client_diverged", "c3"),
    ]


def test_a_malformed_feed_is_reported():
    rec, final = history()
    assert "feed_duplicate" in run(rec, [final, final])
    other = record("t2", 1, 1, {"x": 1})
    rec.sent("c9", [mutation(1, "t2", "put", 0, {"x": 1})])
    rec.answered("c9", [{"mid": 1, "status": "applied", "version": 1, "seq": 1}])
    assert "feed_out_of_order" in run(rec, [final, other])


def test_instances_that_disagree_are_reported():
    rec, final = history()
    assert run(rec, [final], other_feed=[]) == ["feed_mismatch"]
    assert run(rec, [final], other_feed=[final]) == []


def test_an_increment_lost_in_a_merge_is_reported():
    rec = Recorder()
    rec.sent("c1", [mutation(1, "n", "put", 0, {"count": 0})])
    rec.answered("c1", [{"mid": 1, "status": "applied", "version": 1, "seq": 1}])
    rec.sent("c2", [mutation(1, "n", "patch", 1, {"count": {"$inc": 2}}, "c2", at=5)])
    rec.sent("c3", [mutation(1, "n", "patch", 1, {"count": {"$inc": 1}}, "c3", at=6)])
    rec.answered("c2", [{"mid": 1, "status": "applied", "version": 2, "seq": 2}])
    good = record("n", 3, 3, {"count": 3})
    rec.answered("c3", [{"mid": 1, "status": "merged", "version": 3, "seq": 3, "record": good}])
    verdict = check(rec, {"a": {S: [good]}}, [], [S])
    assert verdict.ok and verdict.counts["counters_checked"] == 1
    # the server answered "merged" but its merged record forgot c2's increment
    lost = record("n", 3, 3, {"count": 1})
    rec.results[("c3", 1)] = [
        {"mid": 1, "status": "merged", "version": 3, "seq": 3, "record": lost}
    ]
    assert run(rec, [lost]) == ["counter_mismatch"]


def test_each_space_is_judged_for_the_clients_that_follow_it():
    rec, final = history()
    other = {**record("x1", 1, 1, {"n": 1}), "space": "sp2"}
    m = {**mutation(1, "x1", "put", 0, {"n": 1}, node="c5"), "space": "sp2"}
    rec.sent("c5", [m])
    rec.answered("c5", [{"mid": 1, "status": "applied", "version": 1, "seq": 1}])
    feeds = {"a": {S: [final], "sp2": [other]}}
    both = ClientView("c1", [S, "sp2"], store_of(final, other))
    behind = ClientView("c2", [S, "sp2"], store_of(final))  # sp2 not caught up
    # c3 holds nothing of sp2 and does not follow it (revoked): not expected of it
    one = ClientView("c3", [S], store_of(final))
    verdict = check(rec, feeds, [both, behind, one], [S, "sp2"])
    assert [(a["kind"], a["client_id"], a["space"]) for a in verdict.anomalies] == [
        ("client_diverged", "c2", "sp2")]
    counts = verdict.counts
    assert (counts["follows_checked"], counts["spaces_followed"], counts["spaces_shared"],
            counts["spaces_diverged"]) == (5, 2, 2, 1)
    assert check(rec, feeds, [both, one], [S, "sp2"]).ok
