"""Several server instances on one PostgreSQL database (issue #14 item 4): each storage
below is one instance's (its own pool), and they write at once. SQLite has one writer per
file, which makes these trivial there: they run on PostgreSQL only."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import orjson

from syncserver.model.policies import Policy, PolicyTable
from tests.storage.support import Backend, delete, feed, push, put


def test_one_batch_pushed_to_two_instances_at_once_is_applied_once(postgres: Backend) -> None:
    async def scenario(a: Any, b: Any) -> None:
        for round_ in range(10):
            sent = [put(round_ * 10 + i, f"r{round_}-{i}") for i in range(1, 6)]
            one, two = await asyncio.gather(push(a, "c1", sent), push(b, "c1", sent))
            duplicates = [r.get("duplicate", False) for r in one + two]
            assert duplicates.count(True) == 5, (one, two)
            assert {r["seq"] for r in one} == {r["seq"] for r in two}
        changes = await feed(a, "s1")
        assert [c["seq"] for c in changes] == list(range(1, 51))

    postgres.run(scenario, instances=2)


def test_concurrent_writers_of_one_space_make_a_gap_free_feed_readers_never_skip(
        postgres: Backend) -> None:
    """Many writers on three instances; readers follow the feed by its position while they
    write. With seqs from a plain sequence, a transaction holding seq n+1 could commit
    before the one holding n: a reader would pass n+1 and never see n."""
    writers, batches, size = 6, 12, 4

    async def scenario(*storages: Any) -> None:
        done = asyncio.Event()
        seen: list[list[int]] = [[], []]

        async def write(w: int) -> None:
            s = storages[w % len(storages)]
            for b in range(batches):
                await push(s, f"w{w}", [put(b * size + i + 1, f"w{w}-{b}-{i}")
                                        for i in range(size)])

        async def read(r: int) -> None:
            s, since = storages[r], 0
            while True:
                finished = done.is_set()
                page, _ = await s.changes("s1", since, 7, None)
                seen[r].extend(c["seq"] for c in orjson.loads(b"[" + page.changes + b"]"))
                since = page.last_seq
                if finished and not page.more:
                    return
                await asyncio.sleep(0)  # not a wait: lets the writers run between pages

        readers = [asyncio.create_task(read(r)) for r in range(2)]
        await asyncio.gather(*(write(w) for w in range(writers)))
        done.set()
        await asyncio.gather(*readers)
        total = writers * batches * size
        assert [c["seq"] for c in await feed(storages[0], "s1")] == list(range(1, total + 1))
        for order in seen:
            assert order == list(range(1, total + 1))  # every change, once, in order
        assert (await storages[1].head("s1")).seq == total

    postgres.run(scenario, instances=3)


def test_batches_locking_spaces_in_opposite_orders_never_fail(postgres: Backend) -> None:
    async def scenario(a: Any, b: Any) -> None:
        spaces = [f"sp{i}" for i in range(5)]

        async def client(s: Any, name: str, order: list[str]) -> None:
            for n in range(15):
                await push(s, name, [put(n * 5 + i + 1, f"{name}-{n}", space=space)
                                     for i, space in enumerate(order)])

        await asyncio.gather(client(a, "up", spaces), client(b, "down", spaces[::-1]),
                             client(a, "up2", spaces), client(b, "down2", spaces[::-1]))
        for space in spaces:
            assert [c["seq"] for c in await feed(a, space)] == list(range(1, 61))

    postgres.run(scenario, instances=2)


def test_a_real_deadlock_is_retried_inside_the_storage(postgres: Backend) -> None:
    """Two writes that lock two rows in opposite orders (what lock() prevents for pushes):
    PostgreSQL kills one of them; the storage runs it again and both commit."""
    async def scenario(a: Any, b: Any) -> None:
        await a.write(lambda txn: txn.lock(None, ["x", "y"]))
        both = threading.Barrier(2, timeout=10)

        def opposite(first: str, second: str) -> Any:
            attempts = []

            def fn(txn: Any) -> int:
                attempts.append(1)
                txn.conn.execute("UPDATE spaces SET horizon = horizon + 1 WHERE space = %s",
                                 (first,))
                if len(attempts) == 1:
                    both.wait()  # each holds its first row: the second waits in a cycle
                txn.conn.execute("UPDATE spaces SET horizon = horizon + 1 WHERE space = %s",
                                 (second,))
                return len(attempts)
            return fn

        tries = await asyncio.gather(a.write(opposite("x", "y")), b.write(opposite("y", "x")))
        assert sorted(tries) == [1, 2]  # one was killed by the deadlock detector, then ran
        assert a.retries + b.retries == 1
        assert (await a.head("x")).horizon == 2 and (await a.head("y")).horizon == 2

    postgres.run(scenario, instances=2)


def test_two_instances_writing_one_record_lose_no_update(postgres: Backend) -> None:
    """Every write of the record is applied on top of the one before: versions go up by
    one each, and every field written is still there (merge policy, patches)."""
    writers, each = 4, 10
    table = PolicyTable(by_collection={"todos": Policy.MERGE})

    async def scenario(*storages: Any) -> None:
        await push(storages[0], "init", [put(1, "shared", {"start": True})], table)

        async def write(w: int) -> list[int]:
            versions = []
            for n in range(each):
                m = {"mid": n + 1, "space": "s1", "collection": "todos", "id": "shared",
                     "op": "patch", "base_version": 1, "data": {f"w{w}n{n}": n},
                     "hlc": "0000000000000:00000:x"}
                m["hlc"] = f"{1_700_000_000_000 + n:013d}:00000:x"
                result = (await push(storages[w % len(storages)], f"w{w}", [m], table))[0]
                assert result["status"] in ("applied", "merged"), result
                versions.append(result["version"])
                await asyncio.sleep(random.random() / 1000)  # jitter: varied interleavings
            return versions

        versions = [v for vs in await asyncio.gather(*(write(w) for w in range(writers)))
                    for v in vs]
        assert sorted(versions) == list(range(2, writers * each + 2))
        (record,) = await feed(storages[1], "s1")
        assert record["version"] == writers * each + 1
        assert set(record["data"]) == {"start"} | {f"w{w}n{n}" for w in range(writers)
                                                   for n in range(each)}

    postgres.run(scenario, instances=2)


def test_compaction_beside_pushing_instances_neither_fails_nor_loses_a_write(
        postgres: Backend) -> None:
    """One instance compacts over and over (age 0: every tombstone, result and resolved
    conflict) while two others create and delete records in three spaces, in opposite
    space orders. No write fails, every live record is there, each space's horizon stays
    at or below its head and every tombstone ends up purged."""
    spaces = ["c0", "c1", "c2"]

    async def scenario(a: Any, b: Any, compactor: Any) -> None:
        done = asyncio.Event()

        async def writer(s: Any, name: str, order: list[str]) -> None:
            for n in range(12):
                mid = n * 6
                await push(s, name, [put(mid + i + 1, f"{name}-{n}", space=sp)
                                     for i, sp in enumerate(order)])
                gone = await push(s, name, [delete(mid + i + 4, f"{name}-{n}", 1, space=sp)
                                            for i, sp in enumerate(order) if n % 2])
                assert all(r["status"] == "applied" for r in gone), gone

        async def compact() -> int:
            rounds = 0
            while not done.is_set():
                await compactor.compact(0)
                rounds += 1
            return rounds

        running = asyncio.create_task(compact())
        await asyncio.gather(writer(a, "w1", spaces), writer(b, "w2", spaces[::-1]))
        done.set()
        assert await running >= 1
        await compactor.compact(0)
        for space in spaces:
            live = {c["id"] for c in await feed(a, space)}
            assert live == {f"{w}-{n}" for w in ("w1", "w2") for n in range(0, 12, 2)}
            head = await a.head(space)
            assert 0 < head.horizon <= head.seq == 2 * (12 + 6)

    postgres.run(scenario, instances=3)
