"""A client that follows many spaces, over a real server on SQLite with auth off
(docs/protocol.md, `GET /v1/spaces` and `POST /v1/pull`): the spaces listed with their
heads, and the catch-up of many spaces in one request under one page budget, each space
from its own cursor, a space's failure its own entry. Auth on: tests/security/
test_many_spaces_auth.py; the budget's page-pool charge and the reads it costs:
test_multi_pull_reads.py; PostgreSQL: tests/postgres/test_many_spaces.py."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import orjson
import pytest

from syncserver.core.cursor import CursorCodec
from tests.helpers import assert_problem, mutation, pull_all, push, stamped_by

from .support import pull, read_db, snapshot
from .test_compaction import run_compact


def pull_many(c: httpx.Client, cursors: dict[str, str | None], **fields: Any
              ) -> dict[str, Any]:
    r = c.post("/v1/pull", json={"cursors": cursors, **fields})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert list(body["spaces"]) == list(cursors), "every space asked, in the order asked"
    return body


def fill(c: httpx.Client, client_id: str, counts: dict[str, int], **data: Any) -> None:
    """`counts[space]` records in each space, in one batch."""
    batch = [mutation(0, f"r{i}", space=space, data={"n": i, **data})
             for space, n in counts.items() for i in range(n)]
    for mid, m in enumerate(batch, 1):
        m["mid"] = mid
    push(c, client_id, batch)


def test_spaces_with_auth_off_lists_the_written_spaces_by_name_with_their_heads(http, space):
    fill(http, f"c-{space}", {f"{space}-b": 2, f"{space}-a": 1})
    body = http.get("/v1/spaces").json()
    assert body["sub"] is None and body["truncated"] is False
    names = [s["space"] for s in body["spaces"]]
    assert names == sorted(names)
    mine = [s for s in body["spaces"] if s["space"].startswith(space)]
    assert mine == [{"space": f"{space}-a", "mode": "rw", "head": 1},
                    {"space": f"{space}-b", "mode": "rw", "head": 2}]
    assert f"{space}-never" not in names


def test_spaces_past_a_thousand_are_cut_at_a_thousand_and_said_truncated(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as c:
        fill(c, "c1", {f"s{i:04d}": 1 for i in range(1000)})  # one batch, 1,000 spaces
        assert c.get("/v1/spaces").json()["truncated"] is False
        fill(c, "c2", {"s1000": 1})
        body = c.get("/v1/spaces").json()
    assert body["truncated"] is True
    assert [s["space"] for s in body["spaces"]] == [f"s{i:04d}" for i in range(1000)]
    assert all(s["head"] == 1 and s["mode"] == "rw" for s in body["spaces"])


def test_pull_answers_each_space_from_its_own_cursor_as_get_changes_would(http, space):
    a, b, never = f"{space}-a", f"{space}-b", f"{space}-never"
    fill(http, f"c-{space}", {a: 3, b: 2})
    b_after_one = pull(http, b, limit=1)["cursor"]
    body = pull_many(http, {b: b_after_one, a: "", never: None})
    assert body["more"] is False
    for name, since in ((b, b_after_one), (a, ""), (never, "")):
        alone = pull(http, name, since)
        assert body["spaces"][name] == alone, name  # the same page, the same cursor
    assert [ch["id"] for ch in body["spaces"][b]["changes"]] == ["r1"]
    assert len(body["spaces"][a]["changes"]) == 3


def test_one_limit_for_all_spaces_read_in_the_order_asked(http, space):
    a, b, c, quiet = (f"{space}-{x}" for x in "abcq")
    fill(http, f"c-{space}", {a: 5, b: 5, c: 5, quiet: 2})
    c_at_two = pull(http, c, limit=2)["cursor"]
    quiet_at_head = pull(http, quiet)["cursor"]
    body = pull_many(http, {a: "", b: "", c: c_at_two, quiet: quiet_at_head}, limit=7)
    pages = body["spaces"]
    assert [len(pages[s]["changes"]) for s in (a, b, c, quiet)] == [5, 2, 0, 0]
    assert (pages[a]["more"], pages[b]["more"], pages[c]["more"]) == (False, True, True)
    assert pages[c]["cursor"] == c_at_two, "not reached: its cursor stands"
    assert pages[quiet] == {"changes": [], "cursor": quiet_at_head, "more": False}, \
        "not reached but nothing after its cursor: no more"
    assert body["more"] is True
    # Following the cursors until `more` is false gives every space's whole feed.
    seen: dict[str, dict] = {s: {} for s in (a, b, c)}
    cursors: dict[str, str | None] = {a: "", b: "", c: ""}
    while True:
        body = pull_many(http, cursors, limit=4)
        assert sum(len(p["changes"]) for p in body["spaces"].values()) <= 4
        for name, page in body["spaces"].items():
            seen[name].update({(ch["collection"], ch["id"]): ch for ch in page["changes"]})
            cursors[name] = page["cursor"]
        if not body["more"]:
            break
    for name in (a, b, c):
        assert seen[name] == pull_all(http, name)[0]


def test_the_collections_filter_applies_to_every_space(http, space):
    a, b = f"{space}-a", f"{space}-b"
    push(http, f"c-{space}", [mutation(1, "t", space=a), mutation(2, "n", space=a,
                                                                  collection="notes"),
                              mutation(3, "n2", space=b, collection="notes")])
    body = pull_many(http, {a: "", b: ""}, collections=["notes"])
    assert [ch["id"] for ch in body["spaces"][a]["changes"]] == ["n"]
    assert [ch["id"] for ch in body["spaces"][b]["changes"]] == ["n2"]
    assert body["spaces"][a]["cursor"] == pull(http, a)["cursor"], "past the other collection"


def test_a_space_s_failure_is_its_own_entry_and_the_others_are_answered(http, space, db_path):
    good, bad, other, ahead, old = (f"{space}-{x}" for x in ("good", "bad", "oth", "ah", "ep"))
    fill(http, f"c-{space}", {good: 2, other: 1, ahead: 1, old: 1})
    epoch = pull(http, good)["cursor"].split(".")[1]
    secret = bytes.fromhex(read_db(db_path, "SELECT value FROM meta "
                                            "WHERE key = 'cursor_secret'")[0][0])
    body = pull_many(http, {
        bad: "garbage", other: pull(http, good)["cursor"], good: "",
        ahead: CursorCodec(secret, epoch).encode(ahead, 50),  # signed, past the head
        old: CursorCodec(secret, "0123456789ab").encode(old, 1)})  # another epoch
    pages = body["spaces"]
    assert len(pages[good]["changes"]) == 2 and body["more"] is False
    assert pages[bad]["error"]["code"] == "bad_cursor" and "cursor" not in pages[bad]
    assert pages[other]["error"]["code"] == "bad_cursor", "a cursor of another space"
    for name in (ahead, old):
        assert pages[name]["error"]["code"] == "resync_required", pages[name]
        assert pages[name]["error"]["detail"] and pages[name]["cursor"] == ""
    assert set(pages[bad]) == {"error"} and set(pages[bad]["error"]) == {"code", "detail"}


def test_only_the_first_change_of_a_pull_may_pass_the_byte_budget(server_factory):
    # Changes of about 450 bytes, pages of 1,024: two fit; a third space's first change
    # would pass the budget, so that space waits for the next pull (its cursor stands).
    server = server_factory(env={"SYNCSERVER_MAX_PAGE_BYTES": "1024"})
    with httpx.Client(base_url=server.url, timeout=30) as c:
        fill(c, "c1", {"a": 1, "b": 1, "c": 1}, pad="x" * 330)
        fill(c, "c2", {"big": 1}, pad="y" * 3000)
        body = pull_many(c, {"a": "", "b": "", "c": ""})
        sizes = [len(orjson.dumps(ch)) for p in body["spaces"].values() for ch in p["changes"]]
        assert len(sizes) == 2 and sum(sizes) <= 1024 < sum(sizes) + sizes[0], sizes
        assert body["spaces"]["c"]["changes"] == [] and body["spaces"]["c"]["more"] is True
        assert body["more"] is True
        # Alone at the head of a pull, a change larger than the budget goes in (as in a
        # page of GET /v1/changes): a pull always moves on.
        body = pull_many(c, {"big": "", "a": ""})
        assert [len(p["changes"]) for p in body["spaces"].values()] == [1, 0]
        assert body["spaces"]["big"]["more"] is False and body["spaces"]["a"]["more"] is True


def test_a_push_of_one_batch_over_fifty_spaces_is_one_answer_and_every_head_moves(http, space):
    spaces = [f"{space}-{i:02d}" for i in range(50)]
    batch = [mutation(i * 2 + j + 1, f"r{j}", space=s) for i, s in enumerate(spaces)
             for j in range(2)]
    answer = push(http, f"c-{space}", batch)
    assert [r["status"] for r in answer["results"]] == ["applied"] * 100
    assert sorted(answer["cursors"]) == spaces
    body = pull_many(http, dict.fromkeys(spaces, ""))
    assert all(len(body["spaces"][s]["changes"]) == 2 for s in spaces)
    assert all(body["spaces"][s]["cursor"] == answer["cursors"][s] for s in spaces)


def test_a_batch_over_fifty_spaces_that_fails_midway_stores_nothing_of_any(server_factory):
    # A real failure of the database inside the batch: a trigger refuses the 26th space's
    # record, after the records of the first 25 were written in the same transaction.
    server = server_factory()
    conn = sqlite3.connect(server.db)
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.space = 's25' "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    conn.commit()
    spaces = [f"s{i:02d}" for i in range(50)]
    batch = stamped_by("c1", [mutation(i + 1, "r", space=s) for i, s in enumerate(spaces)])
    before = snapshot(server.db)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        # (After a 500 the server closes the connection: not one to reuse.)
        assert_problem(c.post("/v1/push", json={"client_id": "c1", "mutations": batch},
                              headers={"Connection": "close"}), 500, "internal_error")
        assert snapshot(server.db) == before, "nothing of any space, nor the mids"
        assert all(s["head"] == 0 for s in c.get("/v1/spaces").json()["spaces"])
        conn.execute("DROP TRIGGER boom")
        conn.commit()
        conn.close()
        answer = c.post("/v1/push", json={"client_id": "c1", "mutations": batch}).json()
        assert [r["status"] for r in answer["results"]] == ["applied"] * 50, \
            "the same mids apply: none was kept"
        assert [s["head"] for s in c.get("/v1/spaces").json()["spaces"]] == [1] * 50


@pytest.mark.slow  # `syncserver compact` in a process of its own, as test_compaction.py
def test_a_cursor_behind_the_compaction_horizon_is_that_space_s_resync(server_factory):
    server = server_factory()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        push(c, "c1", [mutation(1, "gone", space="comp"), mutation(2, "kept", space="comp"),
                       mutation(3, "x", space="fine")])
        old = pull(c, "comp")["cursor"]
        push(c, "c1", [mutation(4, "gone", op="delete", base=1, space="comp"),
                       mutation(5, "y", space="comp")])
        run_compact(server.db)
        body = pull_many(c, {"comp": old, "fine": ""})
    assert body["spaces"]["comp"]["error"]["code"] == "resync_required"
    assert body["spaces"]["comp"]["cursor"] == ""
    assert [ch["id"] for ch in body["spaces"]["fine"]["changes"]] == ["x"]
