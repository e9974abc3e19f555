"""Guarantees 4 and 5: the changefeed is gap-free, and replaying it from the start
reproduces the stored state."""

from __future__ import annotations

import threading

import httpx

from tests.helpers import mutation, pull_all, push

from .support import pull, stored_records


def _seed(http: httpx.Client, space: str) -> None:
    push(http, "c-seed-" + space, [
        mutation(1, "t1", space=space, data={"title": "milk"}),
        mutation(2, "t2", space=space),
        mutation(3, "n1", space=space, collection="notes", data={"body": "hi"}),
        mutation(4, "t1", op="patch", base=1, space=space, data={"done": True}),
        mutation(5, "t2", op="delete", base=1, space=space),
        mutation(6, "n2", space=space, collection="notes", data={"nested": {"a": [1, 2]}}),
        mutation(7, "t3", space=space, data={"unicode": "é✓", "n": 1.5, "z": None}),
        mutation(8, "n1", op="put", base=1, space=space, collection="notes",
                 data={"body": "replaced"}),
    ])


def test_replaying_the_changefeed_reproduces_the_stored_state(http, space, db_path):
    _seed(http, space)
    stored = stored_records(db_path, space)
    assert len(stored) == 5
    for limit in (1000, 3, 1):
        state, _ = pull_all(http, space, limit=limit)
        assert state == stored, f"limit={limit}"


def test_pages_follow_cursors_in_seq_order_without_repeats(http, space):
    _seed(http, space)
    since, seqs = "", []
    while True:
        page = pull(http, space, since, limit=2)
        assert len(page["changes"]) <= 2
        seqs += [c["seq"] for c in page["changes"]]
        since = page["cursor"]
        if not page["more"]:
            break
    assert seqs == sorted(set(seqs))
    empty = pull(http, space, since)
    assert empty["changes"] == [] and not empty["more"]
    assert empty["cursor"].split(".")[0] == since.split(".")[0]


def test_collection_filter_returns_only_that_collection_and_advances(http, space):
    _seed(http, space)
    page = pull(http, space, "", collections="notes")
    assert {c["collection"] for c in page["changes"]} == {"notes"}
    assert {c["id"] for c in page["changes"]} == {"n1", "n2"}
    everything = pull(http, space)
    assert page["cursor"] == everything["cursor"]  # moved past the todos too
    assert pull(http, space, page["cursor"], collections="notes")["changes"] == []


def test_push_cursor_names_the_position_after_the_batch(http, space):
    out = push(http, "c-cur-" + space, [mutation(1, "a", space=space),
                                         mutation(2, "b", space=space)])
    cursor = out["cursors"][space]
    assert cursor.split(".")[0] == str(out["results"][-1]["seq"])
    assert pull(http, space, cursor)["changes"] == []
    push(http, "c-cur-" + space, [mutation(3, "c", space=space)])
    assert [c["id"] for c in pull(http, space, cursor)["changes"]] == ["c"]


def test_small_pages_during_concurrent_writes_miss_nothing(http, shared_server, space,
                                                           db_path):
    records = [f"r{i}" for i in range(12)]
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def write(client_id: str, ids: list[str]) -> None:
        try:
            with httpx.Client(base_url=shared_server.url, timeout=30) as c:
                versions = dict.fromkeys(ids, 0)
                mid = 0
                for round_ in range(15):
                    batch = []
                    for rid in ids:
                        mid += 1
                        op = "delete" if round_ % 7 == 6 else "put"
                        batch.append(mutation(mid, rid, op=op, base=versions[rid],
                                              space=space, data={"round": round_}))
                        versions[rid] += 1
                    results = push(c, client_id, batch)["results"]
                    assert all(r["status"] == "applied" for r in results), results
        except (AssertionError, httpx.HTTPError) as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"w{k}-{space}", records[k::2]))
               for k in range(2)]
    for t in threads:
        t.start()
    seen: dict[str, int] = {}
    final_states: dict[str, dict] = {}
    last_seq, since, pages = 0, "", 0
    with httpx.Client(base_url=shared_server.url, timeout=30) as reader:
        while True:
            done = writers_done.is_set()
            page = pull(reader, space, since, limit=3)
            pages += 1
            for change in page["changes"]:
                assert change["seq"] > last_seq, "seq went backwards across pages"
                last_seq = change["seq"]
                assert change["version"] > seen.get(change["id"], 0), \
                    f"{change['id']} seen at a stale version after a newer one"
                seen[change["id"]] = change["version"]
                final_states[change["id"]] = change
            since = page["cursor"]
            if done and not page["more"]:
                break
            if not page["more"] and not any(t.is_alive() for t in threads):
                writers_done.set()  # one more full pass after the writers finished
    for t in threads:
        t.join()
    assert not errors, errors
    assert pages > 10
    stored = stored_records(db_path, space)
    assert {("todos", k): v for k, v in final_states.items()} == stored
    assert all(v["version"] == 15 for v in stored.values())
    state, _ = pull_all(http, space)
    assert state == stored
