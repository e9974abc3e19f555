"""Guarantee 7: tombstones are purged only by `syncserver compact`; a cursor from before
a purged tombstone gets 410 resync_required, never a silent gap."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.helpers import assert_problem, mutation, pull_all, push
from tests.server import REPO

from .support import pull, read_db, stored_mutations, stored_records
from .test_websocket import catch_up, recv, send

# about 5 s each on a 2-core machine (--durations): the inner loop leaves them out
pytestmark = pytest.mark.slow

SPACE = "comp"


def run_compact(db, older_than: str = "0s") -> str:
    """Run `syncserver compact`; its report (stdout)."""
    done = subprocess.run([sys.executable, "-m", "syncserver", "compact", "--db", str(db),
                           "--older-than", older_than], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def compacted(server_factory, tmp_path):
    """A space with a deleted record, compacted while the server runs."""
    db = tmp_path / "compact.db"
    server = server_factory(db=db)
    c = httpx.Client(base_url=server.url, timeout=30)
    first = [mutation(1, "gone", space=SPACE), mutation(2, "kept", space=SPACE)]
    push(c, "c1", first)
    old_cursor = pull(c, SPACE)["cursor"]  # sees `gone` alive
    delete = [mutation(3, "gone", op="delete", base=1, space=SPACE)]
    push(c, "c1", delete)
    tombstone_cursor = pull(c, SPACE)["cursor"]
    assert read_db(db, "SELECT count(*) FROM records WHERE deleted") == [(1,)]
    run_compact(db)
    assert read_db(db, "SELECT count(*) FROM records WHERE deleted") == [(0,)]
    assert stored_mutations(db) == []
    yield {"server": server, "client": c, "db": db, "old": old_cursor,
           "at_tombstone": tombstone_cursor, "first": first, "delete": delete}
    c.close()


def test_cursor_before_a_purged_tombstone_gets_resync_required(compacted):
    c = compacted["client"]
    r = c.get("/v1/changes", params={"space": SPACE, "since": compacted["old"]})
    assert_problem(r, 410, "resync_required")
    r = c.get("/v1/changes", params={"space": SPACE, "since": compacted["old"], "wait": "5"})
    assert_problem(r, 410, "resync_required")


def test_empty_cursor_still_pulls_the_live_state_after_compaction(compacted):
    c = compacted["client"]
    state, _ = pull_all(c, SPACE)
    assert set(state) == {("todos", "kept")}
    assert state == stored_records(compacted["db"], SPACE)
    # A cursor at or after the horizon lost nothing and stays valid.
    assert pull(c, SPACE, compacted["at_tombstone"])["changes"] == []


def test_replay_of_a_purged_mutation_is_rejected_as_expired(compacted):
    c, db = compacted["client"], compacted["db"]
    before = stored_records(db, SPACE)
    results = push(c, "c1", compacted["first"] + compacted["delete"])["results"]
    assert [(r["mid"], r["status"], r["code"]) for r in results] == [
        (1, "rejected", "mutation_expired"), (2, "rejected", "mutation_expired"),
        (3, "rejected", "mutation_expired")]
    assert stored_records(db, SPACE) == before  # `gone` did not come back
    # The client's new mutations are accepted as usual.
    fresh = push(c, "c1", [mutation(4, "new", space=SPACE)])["results"]
    assert fresh[0]["status"] == "applied"


def test_websocket_subscription_from_an_old_cursor_is_told_to_resync(compacted):
    server = compacted["server"]

    async def scenario() -> None:
        async with connect(server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": SPACE, "cursor": compacted["old"]})
            msg = await recv(ws)
            assert msg["type"] == "resync" and msg["code"] == "resync_required", msg
            assert msg["space"] == SPACE and msg["detail"]
            await send(ws, {"type": "subscribe", "space": SPACE, "cursor": ""})
            changes, _ = await catch_up(ws, SPACE)
            assert [ch["id"] for ch in changes] == ["kept"]

    asyncio.run(scenario())


def test_compaction_keeps_what_is_younger_than_the_horizon(server_factory, tmp_path):
    db = tmp_path / "young.db"
    server = server_factory(db=db)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        batch = [mutation(1, "a", space=SPACE),
                 mutation(2, "a", op="delete", base=1, space=SPACE)]
        push(c, "c1", batch)
        old = pull(c, SPACE)["cursor"]
        run_compact(db, "1h")
        assert read_db(db, "SELECT count(*) FROM records WHERE deleted") == [(1,)]
        assert len(stored_mutations(db)) == 2
        assert pull(c, SPACE, "")["changes"][0]["deleted"] is True
        assert pull(c, SPACE, old)["changes"] == []
        again = push(c, "c1", batch)
        assert [r.get("duplicate") for r in again["results"]] == [True, True]
