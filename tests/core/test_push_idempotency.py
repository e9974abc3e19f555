"""Guarantees 2 and 3: replays are harmless, a poison mutation blocks nothing."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.helpers import mutation, pull_all, push, stamped_by, wait_for

from .support import read_db, send_and_hang_up, stored_mutations, stored_records


def _batch(space: str) -> list[dict]:
    return [
        mutation(1, "a", space=space, data={"title": "milk"}),
        mutation(2, "a", op="patch", base=1, space=space, data={"done": True}),
        mutation(3, "b", space=space),
        mutation(4, "b", op="delete", base=1, space=space),
    ]


def _post_raw(http: httpx.Client, body: bytes) -> dict:
    r = http.post("/v1/push", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    out: dict = r.json()
    return out


def _as_duplicate(results: list[dict]) -> list[dict]:
    return [{**r, "duplicate": True} for r in results]


def test_replayed_batch_is_applied_once(http, space, db_path):
    body = orjson.dumps({"client_id": "c-replay",
                         "mutations": stamped_by("c-replay", _batch(space))})
    first = _post_raw(http, body)
    assert [r["status"] for r in first["results"]] == ["applied"] * 4
    state_after_first = stored_records(db_path, space)

    second = _post_raw(http, body)  # the very same bytes, as a Workbox queue replays them
    third = _post_raw(http, body)

    assert second["results"] == _as_duplicate(first["results"])
    assert third["results"] == second["results"]
    assert stored_records(db_path, space) == state_after_first
    state, _ = pull_all(http, space)
    assert state[("todos", "a")]["version"] == 2
    assert state[("todos", "a")]["data"] == {"title": "milk", "done": True}
    assert state[("todos", "b")]["version"] == 2 and state[("todos", "b")]["deleted"]
    assert read_db(db_path, "SELECT seq FROM spaces WHERE space = ?", (space,)) == [(4,)]


def test_batch_replayed_after_lost_response_is_applied_once(http, shared_server, space,
                                                             db_path):
    client_id = "c-lost-" + space
    body = orjson.dumps({"client_id": client_id,
                         "mutations": stamped_by(client_id, _batch(space))})
    send_and_hang_up(shared_server.port, "/v1/push", body)
    # The server commits the batch although nobody reads its answer.
    wait_for(lambda: len(stored_mutations(db_path, client_id)) == 4,
             what="the unanswered batch to commit")
    committed = stored_records(db_path, space)

    replay = _post_raw(http, body)

    assert all(r.get("duplicate") is True for r in replay["results"]), replay
    assert [r["status"] for r in replay["results"]] == ["applied"] * 4
    assert [r["version"] for r in replay["results"]] == [1, 2, 1, 2]
    assert stored_records(db_path, space) == committed
    assert _post_raw(http, body) == replay


def test_reused_mutation_id_with_other_content_is_rejected_and_first_outcome_stays(
        http, space, db_path):
    original = mutation(1, "r", space=space, data={"title": "first"})
    first = push(http, "c-reuse-" + space, [original])["results"][0]
    assert first["status"] == "applied"

    impostor = mutation(1, "r", space=space, data={"title": "second"})
    result = push(http, "c-reuse-" + space, [impostor])["results"][0]

    assert result["status"] == "rejected" and result["code"] == "mutation_id_reused"
    assert result["mid"] == 1 and result["message"]
    record = stored_records(db_path, space)[("todos", "r")]
    assert record["version"] == 1 and record["data"] == {"title": "first"}
    again = push(http, "c-reuse-" + space, [original])["results"][0]
    assert again == {**first, "duplicate": True}


def test_replayed_conflicting_mutation_gets_its_first_outcome_back(http, space, db_path):
    """Whatever the collection's policy decided (conflict or merge), a replay gets that
    decision back verbatim and changes nothing."""
    push(http, "c-other-" + space, [mutation(1, "k", space=space, data={"a": 1}),
                                    mutation(2, "k", op="patch", base=1, space=space,
                                             data={"a": 2})])
    stale = [mutation(1, "k", op="patch", base=1, space=space, data={"b": 3})]
    first = push(http, "c-stale-" + space, stale)["results"]
    assert first[0]["status"] in ("conflict", "merged"), first
    before = stored_records(db_path, space)
    assert push(http, "c-stale-" + space, stale)["results"] == _as_duplicate(first)
    assert stored_records(db_path, space) == before


def test_same_mutation_id_from_another_client_is_a_new_mutation(http, space):
    a = push(http, "c-one-" + space, [mutation(1, "x", space=space)])["results"][0]
    b = push(http, "c-two-" + space, [mutation(1, "y", space=space)])["results"][0]
    assert a["status"] == b["status"] == "applied"
    assert "duplicate" not in b


POISONS = {
    "unknown_op": ({"op": "explode"}, "unknown_op"),
    "bad_collection_name": ({"collection": "no spaces allowed"}, "invalid_mutation"),
    "data_is_a_list": ({"data": [1, 2]}, "invalid_mutation"),
    "base_version_negative": ({"base_version": -1}, "invalid_mutation"),
    "bad_hlc": ({"hlc": "yesterday"}, "invalid_hlc"),
}


@pytest.mark.parametrize("change, code", POISONS.values(), ids=POISONS.keys())
def test_poison_mutation_is_rejected_and_the_rest_are_applied(http, space, db_path, change,
                                                              code):
    poison = {**mutation(2, "p", space=space), **change}
    batch = [mutation(1, "before", space=space), poison,
             mutation(3, "after1", space=space),
             mutation(4, "after2", space=space),
             mutation(5, "after1", op="patch", base=1, space=space, data={"n": 1})]
    results = push(http, "c-poison-" + space, batch)["results"]

    assert [r["status"] for r in results] == [
        "rejected" if i == 1 else "applied" for i in range(5)]
    assert results[1]["code"] == code and results[1]["mid"] == 2 and results[1]["message"]
    stored = stored_records(db_path, space)
    assert set(stored) == {("todos", "before"), ("todos", "after1"), ("todos", "after2")}
    assert stored[("todos", "after1")]["version"] == 2
    # The rejection is an outcome like any other: a replay gets it back, applies nothing.
    replay = push(http, "c-poison-" + space, batch)["results"]
    assert replay == _as_duplicate(results)
    assert stored_records(db_path, space) == stored


def test_mutation_without_usable_id_is_rejected_without_blocking(http, space, db_path):
    batch = [mutation(1, "a", space=space), {**mutation(2, "b", space=space), "mid": "2"},
             "not an object", mutation(3, "c", space=space)]
    results = push(http, "c-noid-" + space, batch)["results"]
    assert [(r["mid"], r["status"]) for r in results] == [
        (1, "applied"), (None, "rejected"), (None, "rejected"), (3, "applied")]
    assert {r["code"] for r in results[1:3]} == {"invalid_mutation"}
    assert set(stored_records(db_path, space)) == {("todos", "a"), ("todos", "c")}


def test_later_mutation_in_a_batch_sees_the_earlier_one(http, space):
    results = push(http, "c-chain-" + space, [
        mutation(1, "t", space=space, data={"title": "milk"}),
        mutation(2, "t", op="patch", base=1, space=space, data={"done": True}),
        mutation(3, "t", op="patch", base=2, space=space, data={"title": None}),
    ])["results"]
    assert [(r["status"], r["version"]) for r in results] == [
        ("applied", 1), ("applied", 2), ("applied", 3)]
    assert results[0]["seq"] < results[1]["seq"] < results[2]["seq"]
    state, _ = pull_all(http, space)
    assert state[("todos", "t")]["data"] == {"done": True}
