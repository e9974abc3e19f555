"""The checker's rules for issue 11 on hand-made histories, one per rule: conflicts audited,
no older write over a newer one (check_chains.py), counters and sets as docs/conflicts.md
defines them (check_ops.py), hostile input refused without harm (check_hostile.py)."""

from __future__ import annotations

from typing import Any

from load.recorder import Recorder
from tests.load.test_checker import history, mutation, record, run

# -- chains: conflicts audited, no older write over a newer one -------------------------


def chain_history(second: dict[str, Any]) -> tuple[Recorder, dict[str, Any]]:
    """The issue's chain: A creates a note; B retitles it at T-1s; A, offline since before,
    queued two title edits at T-5s and T-4.999s (protocol 2: both based on version 1).
    A's first edit loses (conflict, audited); ``second`` is the answer to the second."""
    rec = Recorder()
    rec.sent("A", [mutation(1, "n1", "put", 0, {"title": "draft"}, "A", at=0)])
    rec.answered("A", [{"mid": 1, "status": "applied", "version": 1, "seq": 1}])
    rec.sent("B", [mutation(1, "n1", "patch", 1, {"title": "by B"}, "B", at=9000)])
    rec.answered("B", [{"mid": 1, "status": "applied", "version": 2, "seq": 2}])
    server = record("n1", 2, 2, {"title": "by B"})
    rec.sent(
        "A",
        [
            mutation(2, "n1", "patch", 1, {"title": "A1"}, "A", at=5000),
            mutation(3, "n1", "patch", 1, {"title": "A2"}, "A", at=5001),
        ],
    )
    lost = {"status": "conflict", "code": "stale_base_version", "record": server}
    rec.answered("A", [{"mid": 2, **lost}, {"mid": 3, **second}])
    rec.audit = [{"client_id": "A", "mid": 2}]
    return rec, server


def test_an_older_queued_edit_applied_over_a_newer_one_is_reported():
    rec, _ = chain_history({"status": "applied", "version": 3, "seq": 3})
    kinds = run(rec, [record("n1", 3, 3, {"title": "A2"})])
    assert kinds == ["older_write_won"]


def test_an_older_queued_edit_that_loses_and_is_audited_is_clean():
    rec, server = chain_history(
        {"status": "conflict", "code": "stale_base_version", "record": record("n1", 2, 2,
                                                                              {"title": "by B"})}
    )
    rec.audit.append({"client_id": "A", "mid": 3})
    assert run(rec, [server]) == []
    rec.audit.pop()  # the same, with the second loss missing from the audit
    assert run(rec, [server]) == ["conflict_not_audited"]


def test_a_merge_that_overrides_a_field_without_an_audit_entry_is_reported():
    rec, _final = history()
    merged = record("t1", 3, 3, {"title": "eggs", "done": True})
    rec.sent("c4", [mutation(1, "t1", "patch", 1, {"title": "eggs"}, "c4", at=50)])
    resolution = {"policy": "merge", "winner": "client", "fields": [
        {"field": "title", "winner": "client"}]}
    rec.answered(
        "c4", [{"mid": 1, "status": "merged", "record": merged, "resolution": resolution}]
    )
    assert run(rec, [merged]) == ["conflict_not_audited"]
    rec.audit = [*(rec.audit or []), {"client_id": "c4", "mid": 1}]
    assert run(rec, [merged]) == []


# -- commutative operations mixed with plain writes --------------------------------------


def tally(extra: list[tuple[str, dict[str, Any], int, int, dict[str, Any]]]) -> Recorder:
    """c0 creates a tally {likes: 0, tags: []} (version 1); then each
    (client, data, at, base, result) is a patch stamped ``at`` ms on from ``base``."""
    rec = Recorder()
    rec.sent("c0", [mutation(1, "k", "put", 0, {"likes": 0, "tags": []}, "c0", at=0)])
    rec.answered("c0", [{"mid": 1, "status": "applied", "version": 1, "seq": 1}])
    for i, (client, data, at, base, result) in enumerate(extra, start=2):
        rec.sent(client, [mutation(i, "k", "patch", base, data, client, at=at)])
        rec.answered(client, [{"mid": i, **result}])
    rec.audit = [{"client_id": client, "mid": i} for i, (client, *_) in enumerate(extra, 2)]
    return rec


def applied(version: int) -> dict[str, Any]:
    return {"status": "applied", "version": version, "seq": version}


def merged_at(version: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"status": "merged", "record": record("k", version, version, data)}


def test_a_counter_is_its_last_plain_write_plus_the_increments_that_saw_it():
    # c1 resets likes to 5 (v2); c2 had seen it (base 2): +2 counts; c3 had not (base 1):
    # its +1 is absorbed by the reset, whatever the arrival order
    final = {"likes": 7, "tags": []}
    rec = tally(
        [
            ("c1", {"likes": 5}, 10, 1, applied(2)),
            ("c2", {"likes": {"$inc": 2}}, 20, 2, applied(3)),
            ("c3", {"likes": {"$inc": 1}}, 30, 1, merged_at(4, final)),
        ]
    )
    assert run(rec, [record("k", 4, 4, final)]) == []
    for wrong in (5, 8):  # an increment lost, or an absorbed one counted
        data = {"likes": wrong, "tags": []}
        rec = tally(
            [
                ("c1", {"likes": 5}, 10, 1, applied(2)),
                ("c2", {"likes": {"$inc": 2}}, 20, 2, merged_at(3, data)),
                ("c3", {"likes": {"$inc": 1}}, 30, 1, merged_at(4, data)),
            ]
        )
        assert run(rec, [record("k", 4, 4, data)]) == ["counter_mismatch"]


def test_a_stale_reset_that_arrives_last_still_wins_by_its_stamp():
    # the case: an increment, then an older plain write arrives. Plain writes
    # settle among themselves: the reset (stamped after the creating put) is the epoch,
    # and the increment, which had not seen it, is absorbed: likes == 0 in both orders
    final = {"likes": 0, "tags": []}
    rec = tally(
        [
            ("c2", {"likes": {"$inc": 2}}, 20, 1, applied(2)),
            ("c1", {"likes": 0}, 10, 1, merged_at(3, final)),
        ]
    )
    assert run(rec, [record("k", 3, 3, final)]) == []
    kept = {"likes": 2, "tags": []}
    rec = tally(
        [
            ("c2", {"likes": {"$inc": 2}}, 20, 1, applied(2)),
            ("c1", {"likes": 0}, 10, 1, merged_at(3, kept)),
        ]
    )
    assert run(rec, [record("k", 3, 3, kept)]) == ["counter_mismatch"]


def test_a_set_is_add_wins_a_remove_takes_only_the_adds_it_had_seen():
    # c1 adds a, b (v2); c2 removes a without having seen that add (base 1): a stays;
    # c3 removes b having seen it (base 2): b goes
    final = {"likes": 0, "tags": ["a"]}
    rec = tally(
        [
            ("c1", {"tags": {"$add": ["a", "b"]}}, 10, 1, applied(2)),
            ("c2", {"tags": {"$remove": ["a"]}}, 30, 1, merged_at(3, {"likes": 0,
                                                                      "tags": ["a", "b"]})),
            ("c3", {"tags": {"$remove": ["b"]}}, 40, 2, merged_at(4, final)),
        ]
    )
    assert run(rec, [record("k", 4, 4, final)]) == []
    wrong = {"likes": 0, "tags": []}  # the unseen add removed (last-writer-wins thinking)
    rec = tally(
        [
            ("c1", {"tags": {"$add": ["a", "b"]}}, 10, 1, applied(2)),
            ("c2", {"tags": {"$remove": ["a"]}}, 30, 1, merged_at(3, {"likes": 0,
                                                                      "tags": ["b"]})),
            ("c3", {"tags": {"$remove": ["b"]}}, 40, 2, merged_at(4, wrong)),
        ]
    )
    assert run(rec, [record("k", 4, 4, wrong)]) == ["set_mismatch"]


def test_a_plain_write_of_a_set_is_its_epoch():
    # c1 writes tags = [x] (v2); c2's add of y had not seen it: absorbed; c3's had: counts
    final = {"likes": 0, "tags": ["x", "z"]}
    rec = tally(
        [
            ("c1", {"tags": ["x"]}, 10, 1, applied(2)),
            ("c2", {"tags": {"$add": ["y"]}}, 20, 1, {"status": "conflict",
                                                      "record": record("k", 2, 2, {
                                                          "likes": 0, "tags": ["x"]})}),
            ("c3", {"tags": {"$add": ["z"]}}, 30, 2, applied(3)),
        ]
    )
    assert run(rec, [record("k", 3, 3, final)]) == []
    resurrected = {"likes": 0, "tags": ["x", "y", "z"]}
    rec.results[("c3", 4)] = [merged_at(3, resurrected) | {"mid": 4}]
    assert "set_mismatch" in run(rec, [record("k", 3, 3, resurrected)])


# -- hostile input -----------------------------------------------------------------------


def poison(mid: int, kind: str) -> dict[str, Any]:
    m = mutation(mid, "t1", "put", 0, {"x": 1})
    m["poison"] = kind
    return m


def test_a_poison_mutation_that_is_not_rejected_is_reported():
    rec, final = history()
    rec.sent("c7", [poison(1, "bigint")])
    rec.answered("c7", [{"mid": 1, "status": "rejected", "code": "invalid_mutation"}])
    assert run(rec, [final]) == []
    rec.sent("c8", [poison(1, "deep_put")])
    rec.answered("c8", [{"mid": 1, "status": "applied", "version": 3, "seq": 3}])
    kinds = run(rec, [record("t1", 3, 3, None)])
    assert "poison_accepted" in kinds


def test_an_innocent_mutation_blocked_by_its_poison_neighbour_is_reported():
    rec, final = history()
    innocent = mutation(2, "t2", "put", 0, {"x": 1}, "c7")
    rec.sent("c7", [poison(1, "deep_patch"), innocent])
    rec.failed("c7", [poison(1, "deep_patch"), innocent], 500, "internal_error")
    kinds = run(rec, [final])
    assert kinds == ["innocent_not_settled", "server_error", "unanswered"]


def test_a_mishandled_probe_and_any_server_error_are_reported():
    rec, final = history()
    rec.probes.append({"name": "bad_cursor_non_ascii", "ok": True, "observed": 400})
    assert run(rec, [final]) == []
    rec.probes.append({"name": "ws_garbage_text", "ok": False, "observed": "closed 1006"})
    rec.server_errors.append(("pull", 500, "internal_error"))
    assert run(rec, [final]) == ["probe_mishandled", "server_error"]
