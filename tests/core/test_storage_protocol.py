"""What every storage backend guarantees (storage/base.py, docs/storage.md), checked through
the `Storage` protocol only: one suite, run on each backend (tests/pg.py `any_db`: SQLite,
then PostgreSQL, which skips with the reason where none answers, and fails in CI).

The core's writes go through push.apply_batch and conflicts.resolve as the server's do; a
recording wrapper around the backend's real transaction checks the lock order they keep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import orjson
import pytest

from syncserver import conflicts, epoch
from syncserver.hlc import Clock
from syncserver.mutations import parse_mutation
from syncserver.permissions import Access
from syncserver.policies import Policy, PolicyTable
from syncserver.push import BatchResult, apply_batch
from syncserver.settings import Settings
from syncserver.storage.base import PushTransaction, SpaceHead, Storage
from syncserver.storage.factory import open_storage, prepare

MANUAL = PolicyTable(by_collection={"manual": Policy.MANUAL})
STAMPS_FROM = int(time.time() * 1000) - 60_000  # a minute ago: within any drift bound


@pytest.fixture
def settings(any_db: str) -> Iterator[Settings]:
    settings = Settings(db=any_db)
    prepare(settings, migrate=True).release()
    yield settings


def run(settings: Settings, scenario: Callable[[Storage], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        storage = open_storage(settings)
        await storage.open()
        try:
            return await scenario(storage)
        finally:
            await storage.close()
    return asyncio.run(main())


def mutation(mid: int, space: str, record_id: str, op: str = "put", base: int = 0,
             collection: str = "notes", data: dict[str, Any] | None = None,
             client: str = "c1") -> dict[str, Any]:
    stamp = f"{STAMPS_FROM + mid:013d}:00000:{client}"
    raw = {"mid": mid, "space": space, "collection": collection, "id": record_id, "op": op,
           "base_version": base, "hlc": stamp}
    if op != "delete":
        raw["data"] = data if data is not None else {"n": mid}
    return raw


def push(raws: list[dict[str, Any]], client: str = "c1", policies: PolicyTable = MANUAL,
         may_write: Callable[[str], bool] | None = None, owner: str | None = None
         ) -> Callable[[PushTransaction], BatchResult]:
    items = [parse_mutation(raw, 1 << 20) for raw in raws]
    return lambda txn: apply_batch(txn, client, items, Clock(60_000), policies, 1 << 20,
                                   may_write, owner)


def seqs(page_changes: bytes) -> list[int]:
    return [c["seq"] for c in orjson.loads(b"[" + page_changes + b"]")]


class Recording:
    """The backend's own transaction, with the calls made to it recorded in order."""

    def __init__(self, txn: PushTransaction, calls: list[tuple[str, Any]]) -> None:
        self._txn, self._calls = txn, calls

    def lock(self, client_id: str | None, spaces: Iterable[str]) -> None:
        spaces = list(spaces)
        self._calls.append(("lock", (client_id, sorted(set(spaces)))))
        self._txn.lock(client_id, spaces)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._txn, name)

        def call(*args: Any) -> Any:
            self._calls.append((name, args))
            return method(*args)
        return call


def test_a_write_that_fails_stores_nothing_and_leaves_no_gap(settings: Settings) -> None:
    def half_then_fail(txn: PushTransaction) -> None:
        push([mutation(1, "s", "a")])(txn)
        raise RuntimeError("after the record was written")

    async def scenario(storage: Storage) -> None:
        with pytest.raises(RuntimeError):
            await storage.write(half_then_fail)
        page, head = await storage.changes("s", 0, 100, None)
        assert (page.count, head.seq) == (0, 0)
        await storage.write(push([mutation(1, "s", "a")]))  # the same mid: not a replay
        page, head = await storage.changes("s", 0, 100, None)
        assert seqs(page.changes) == [1] and head.seq == 1
    run(settings, scenario)


def test_each_space_has_a_gap_free_feed_in_commit_order(settings: Settings) -> None:
    async def scenario(storage: Storage) -> None:
        writes = [push([mutation(1, "a", f"r{i}", client=f"c{i}"),
                        mutation(2, "b", f"r{i}", client=f"c{i}"),
                        mutation(3, "a", f"q{i}", client=f"c{i}")], client=f"c{i}")
                  for i in range(20)]
        await asyncio.gather(*(storage.write(w) for w in writes))
        for space, count in (("a", 40), ("b", 20)):
            page, head = await storage.changes(space, 0, 1000, None)
            assert seqs(page.changes) == list(range(1, count + 1))
            assert head.seq == count == (await storage.head(space)).seq
            assert not page.more and page.last_seq == count
        # A batch's changes of a space are consecutive: no other batch's between them.
        page, _ = await storage.changes("a", 0, 1000, None)
        seq_of = {c["id"]: c["seq"] for c in orjson.loads(b"[" + page.changes + b"]")}
        assert all(seq_of[f"q{i}"] == seq_of[f"r{i}"] + 1 for i in range(20))
    run(settings, scenario)


def test_a_page_stops_at_its_limit_its_bytes_and_keeps_to_its_collections(
        settings: Settings) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.write(push([
            mutation(i, "s", f"r{i}", collection="notes" if i % 2 else "tasks",
                     data={"text": "x" * 500}) for i in range(1, 7)]))
        page, _ = await storage.changes("s", 0, 2, None)
        assert seqs(page.changes) == [1, 2] and page.more and page.last_seq == 2
        page, _ = await storage.changes("s", 2, 100, ["tasks"])
        assert seqs(page.changes) == [4, 6] and not page.more and page.last_seq == 6
        page, _ = await storage.changes("s", 0, 100, None, max_bytes=10)
        assert seqs(page.changes) == [1] and page.more  # the first change always goes in
        page, head = await storage.changes("s", 9, 100, None)
        assert (page.count, page.last_seq, head.seq) == (0, 9, 6)  # a cursor ahead: kept
    run(settings, scenario)


def test_a_mutation_is_applied_once_per_client_and_mid(settings: Settings) -> None:
    async def scenario(storage: Storage) -> None:
        first = await storage.write(push([mutation(1, "s", "a"), mutation(2, "s", "b")]))
        again = await storage.write(push([mutation(1, "s", "a"), mutation(2, "s", "b")]))
        assert [orjson.loads(r).get("duplicate") for r in again.results] == [True, True]
        assert again.heads == {} and first.heads == {"s": 2}
        other = await storage.write(push([mutation(1, "s", "c", client="c2")], client="c2"))
        assert other.heads == {"s": 3}  # mids are per client
    run(settings, scenario)


def test_a_push_takes_its_locks_before_it_reads(settings: Settings) -> None:
    calls: list[tuple[str, Any]] = []

    async def scenario(storage: Storage) -> None:
        batch = push([mutation(1, "b", "x"), mutation(2, "a", "y"), mutation(3, "c", "z"),
                      mutation(4, "a", "w")], may_write=lambda space: space != "c",
                     owner="alice")
        await storage.write(lambda txn: batch(Recording(txn, calls)))  # type: ignore[arg-type]
    run(settings, scenario)
    assert calls[0] == ("lock", ("c1", ["a", "b"]))  # client, then spaces; "c" is forbidden
    assert [name for name, _ in calls[1:3]] == ["client_owner", "bind_client"]
    assert [name for name, _ in calls].count("lock") == 1


def test_resolving_a_conflict_locks_its_space_before_reading_the_record(
        settings: Settings) -> None:
    calls: list[tuple[str, Any]] = []

    async def scenario(storage: Storage) -> None:
        await storage.write(push([mutation(1, "s", "a", collection="manual")]))
        result = await storage.write(push([mutation(1, "s", "a", collection="manual",
                                                    client="c2")], client="c2"))
        conflict_id = orjson.loads(result.results[0])["conflict_id"]
        listed = await storage.conflicts({"status": "open"}, 0, 10)
        assert [row["id"] for row in listed] == [conflict_id]
        assert await storage.conflicts({}, 0, 10, spaces=[]) == []
        assert await storage.conflicts({}, 0, 10, spaces=["other"]) == []
        answer, out = await storage.write(lambda txn: conflicts.resolve(
            Recording(txn, calls), conflict_id, {"accept": "client"},  # type: ignore[arg-type]
            Clock(60_000), access=Access("alice", time.time() + 60, {"s": "rw"})))
        assert answer["status"] == "resolved" and out.heads == {"s": 2}
        assert await storage.conflicts({"status": "open"}, 0, 10) == []
    run(settings, scenario)
    assert [name for name, _ in calls[:3]] == ["load_conflict", "lock", "load_record"]
    assert calls[1] == ("lock", (None, ["s"]))


def test_the_secret_and_the_epochs_are_kept(settings: Settings) -> None:
    async def scenario(storage: Storage) -> tuple[bytes, epoch.Epochs]:
        return await storage.secret(), await storage.write(epoch.load_or_create)

    secret, epochs = run(settings, scenario)
    assert len(secret) == 32 and epochs.current == epochs.legacy
    assert run(settings, scenario) == (secret, epochs)

    async def renew(storage: Storage) -> tuple[str, str, str | None]:
        old, new = await storage.write(epoch.renew)
        first = await storage.write(lambda txn: txn.add_meta("k", "first"))
        assert await storage.write(lambda txn: txn.add_meta("k", "second")) == first
        return old, new, await storage.write(lambda txn: txn.get_meta(epoch.LEGACY_EPOCH))

    old, new, legacy = run(settings, renew)
    assert old == epochs.current != new and legacy == epochs.legacy


def test_compaction_moves_the_horizon_past_purged_tombstones(settings: Settings) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.write(push([mutation(1, "s", "a"), mutation(2, "s", "b")]))
        await storage.write(push([mutation(3, "s", "a", op="delete", base=1)]))
        await asyncio.sleep(0.01)
        stats = await storage.compact(0)
        assert (stats.tombstones, stats.horizons) == (1, {"s": 3})
        assert await storage.head("s") == SpaceHead(3, 3)
        assert await storage.health() is None
    run(settings, scenario)
