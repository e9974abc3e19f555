"""Many spaces on PostgreSQL: GET /v1/spaces and POST /v1/pull over a real server (the
heads of many spaces and the written spaces are read in one statement each, feed.py), and a
push batch over 50 spaces: one transaction and one answer, nothing of any space stored when
it fails midway, and the locks of its 50 spaces taken in one order, so that batches over
the same spaces in opposite orders never deadlock (no retry)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from syncserver.config.settings import Settings
from syncserver.storage.factory import prepare
from tests.helpers import assert_problem, mutation, pull_all, push, stamped_by
from tests.server import ServerProcess
from tests.storage.support import Backend, feed, put
from tests.storage.support import push as storage_push

TABLES = ("records", "spaces", "mutation_batches", "clients", "conflicts")


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(postgres_url, log=tmp_path / "server.log").start()
    yield started
    started.stop()


def stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in TABLES}


def test_spaces_and_a_pull_of_many_spaces_on_postgresql(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        batch = [mutation(i + 1, "r", space=f"s{i:04d}") for i in range(1000)]
        push(c, "c1", batch)
        push(c, "c1", [mutation(1001, "r2", space="s0003"), mutation(1002, "r", space="z")])
        body = c.get("/v1/spaces").json()
        assert body["sub"] is None and body["truncated"] is True
        assert [s["space"] for s in body["spaces"]] == [f"s{i:04d}" for i in range(1000)]
        assert body["spaces"][3] == {"space": "s0003", "mode": "rw", "head": 2}
        # Quiet spaces at their head, two with changes, one never written: one budget.
        cursors: dict[str, str | None] = {
            f"s{i:04d}": c.get("/v1/changes", params={"space": f"s{i:04d}"}).json()["cursor"]
            for i in range(10)}
        cursors["s0005"] = ""
        cursors["never"] = None
        cursors["z"] = ""
        r = c.post("/v1/pull", json={"cursors": cursors, "limit": 1})
        assert r.status_code == 200, r.text
        pages = r.json()["spaces"]
        assert list(pages) == list(cursors)
        assert [ch["id"] for ch in pages["s0005"]["changes"]] == ["r"]
        assert pages["z"]["changes"] == [] and pages["z"]["more"] is True, "not reached"
        assert pages["never"]["more"] is False and pages["s0003"]["more"] is False
        assert r.json()["more"] is True
        r = c.post("/v1/pull", json={"cursors": {"z": pages["z"]["cursor"]}})
        assert r.json()["spaces"]["z"]["changes"] == list(pull_all(c, "z")[0].values())


def test_a_batch_over_fifty_spaces_is_one_transaction(server: ServerProcess,
                                                      postgres_url: str) -> None:
    spaces = [f"s{i:02d}" for i in range(50)]
    batch = stamped_by("c1", [mutation(i * 2 + j + 1, f"r{j}", space=s)
                              for i, s in enumerate(spaces) for j in range(2)])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # The disk fills up while the 26th space's records are written.
        conn.execute("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RAISE EXCEPTION 'injected' USING ERRCODE = 'disk_full'; END $$")
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON records FOR EACH ROW "
                     "WHEN (NEW.space = 's25') EXECUTE FUNCTION boom()")
        before = stored(postgres_url)
        with httpx.Client(base_url=server.url, timeout=60) as c:
            body = assert_problem(c.post("/v1/push", json={"client_id": "c1",
                                                            "mutations": batch}),
                                  503, "storage_unavailable")
            assert "nothing of this request was stored" in body["detail"]
            assert stored(postgres_url) == before, "nothing of any space, nor the mids"
            conn.execute("DROP TRIGGER boom ON records")
            answer = c.post("/v1/push", json={"client_id": "c1", "mutations": batch}).json()
            assert [r["status"] for r in answer["results"]] == ["applied"] * 100
            assert sorted(answer["cursors"]) == spaces
            heads = {s["space"]: s["head"] for s in c.get("/v1/spaces").json()["spaces"]}
            assert heads == dict.fromkeys(spaces, 2)


def test_batches_over_fifty_spaces_in_opposite_orders_take_their_locks_in_one_order(
        postgres_url: str) -> None:
    prepare(Settings(db=postgres_url), migrate=True).release()
    backend = Backend("postgresql", postgres_url)
    spaces = [f"sp{i:02d}" for i in range(50)]
    rounds = 8

    async def scenario(a: Any, b: Any) -> None:
        async def client(s: Any, name: str, order: list[str]) -> None:
            for n in range(rounds):
                await storage_push(s, name, [put(n * 50 + i + 1, f"{name}-{n}", space=space)
                                             for i, space in enumerate(order)])

        await asyncio.gather(client(a, "up", spaces), client(b, "down", spaces[::-1]),
                             client(a, "up2", spaces[10:] + spaces[:10]),
                             client(b, "mixed", random.Random(7).sample(spaces, len(spaces))))
        assert a.retries + b.retries == 0, "no deadlock, so no transaction run again"
        for space in spaces:
            assert [ch["seq"] for ch in await feed(a, space)] == list(range(1, 4 * rounds + 1))

    backend.run(scenario, instances=2)
