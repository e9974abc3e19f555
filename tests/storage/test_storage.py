"""The storage behaviours every backend must have (storage/base.py), each case run on
SQLite and on PostgreSQL (the `backend` fixture), through the storage interface and the
real push and conflict code. The lock order they keep: test_lock_order.py."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from syncserver.model.errors import ErrorCode, SyncError
from syncserver.model.hlc import Clock
from syncserver.model.policies import PolicyTable
from syncserver.storage import epoch
from syncserver.storage.failures import StorageError
from tests.storage.support import MANUAL, Backend, apply, batch, delete, feed, push, put, resolve


class Boom(Exception):
    pass


def test_a_write_that_raises_leaves_nothing_stored(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        def half_then_fail(txn: Any) -> None:
            apply(txn, "c1", batch("c1", put(1, "a"), put(2, "b", space="s2")),
                  Clock(60_000), PolicyTable())
            txn.bind_client("c1", "alice", 1)
            raise Boom("after the batch was applied")

        with pytest.raises(Boom):
            await s.write(half_then_fail)
        assert await feed(s, "s1") == [] and await feed(s, "s2") == []
        assert (await s.head("s1")).seq == 0
        assert await s.write(lambda txn: txn.client_owner("c1")) is None
        # The mids were not stored either: the same batch applies (not a duplicate).
        results = await push(s, "c1", [put(1, "a"), put(2, "b", space="s2")])
        assert [r["status"] for r in results] == ["applied", "applied"]
        assert [r["seq"] for r in results] == [1, 1]

    backend.run(scenario)


def test_a_storage_error_inside_one_mutation_fails_its_whole_batch(backend: Backend) -> None:
    """push.apply_batch makes an unexpected failure of one mutation that mutation's
    rejection, but an error of the storage is the batch's: the transaction cannot go on
    (PostgreSQL refuses every later statement, SQLite may have rolled it back). Every
    backend raises its driver's errors as the one StorageError family (storage/failures.py):
    here the audit a conflict is written to is gone."""
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "n", {"t": "one"}, collection="notes")], MANUAL)

        def conflict_without_its_audit(txn: Any) -> None:
            txn.conn.execute("DROP TABLE conflicts")
            with pytest.raises(StorageError):
                apply(txn, "c2", batch("c2", put(1, "n", {"t": "c2"}, collection="notes")),
                      Clock(60_000), MANUAL)
            raise Boom("undo the drop")

        with pytest.raises(Boom):
            await s.write(conflict_without_its_audit)
        results = await push(s, "c2", [put(1, "n", {"t": "c2"}, collection="notes")], MANUAL)
        assert [r["status"] for r in results] == ["conflict"]

    backend.run(scenario)


def test_seq_is_per_space_and_gap_free(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "a"), put(2, "b"), put(3, "x", space="s2")])
        await push(s, "c1", [put(4, "a", base=1), put(5, "y", space="s2"), put(6, "c")])
        changes = await feed(s, "s1")
        assert [c["seq"] for c in changes] == [2, 3, 4]  # a rewritten: its old seq is gone
        assert [(c["id"], c["version"]) for c in changes] == [("b", 1), ("a", 2), ("c", 1)]
        assert [c["seq"] for c in await feed(s, "s2")] == [1, 2]
        assert (await s.head("s1")).seq == 4 and (await s.head("s2")).seq == 2
        assert (await s.head("never")).seq == 0

    backend.run(scenario)


def test_concurrent_batches_keep_each_space_gap_free_in_commit_order(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await asyncio.gather(*(push(s, f"c{i}", [put(1, f"r{i}", space="a"),
                                                 put(2, f"r{i}", space="b"),
                                                 put(3, f"q{i}", space="a")])
                               for i in range(20)))
        for space, count in (("a", 40), ("b", 20)):
            page, head = await s.changes(space, 0, 1000, None)
            assert [c["seq"] for c in orjson.loads(b"[" + page.changes + b"]")] == \
                list(range(1, count + 1))
            assert head.seq == count == (await s.head(space)).seq
            assert not page.more and page.last_seq == count
        # A batch's changes of a space are consecutive: no other batch's between them.
        seq_of = {c["id"]: c["seq"] for c in await feed(s, "a")}
        assert all(seq_of[f"q{i}"] == seq_of[f"r{i}"] + 1 for i in range(20))

    backend.run(scenario)


def test_a_replayed_batch_is_applied_once(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        sent = [put(1, "a", {"n": 1}), put(2, "b"), delete(3, "b", base=1)]
        first = await push(s, "c1", sent)
        again = await push(s, "c1", sent)
        assert [r.get("duplicate") for r in again] == [True, True, True]
        assert [{k: v for k, v in r.items() if k != "duplicate"} for r in again] == first
        assert len(await feed(s, "s1")) == 2
        # A batch of duplicates moves no head; mids are per client.
        replayed = await s.write(lambda txn: apply(txn, "c1", batch("c1", *sent), Clock(60_000),
                                                   PolicyTable()))
        assert replayed.heads == {}
        other = await s.write(lambda txn: apply(txn, "c2", batch("c2", put(1, "c")),
                                                Clock(60_000), PolicyTable()))
        assert other.heads == {"s1": 4}
        # A mid used again for another mutation is refused, not applied.
        reused = await push(s, "c1", [put(2, "z")])
        assert reused[0]["code"] == ErrorCode.MUTATION_ID_REUSED.value
        # Mids of blocks far apart (mutation_log.py) are found again too.
        far = [put(10**12, "f1"), put(2**63 - 1, "f2")]
        await push(s, "c1", far)
        assert [r.get("duplicate") for r in await push(s, "c1", far)] == [True, True]

    backend.run(scenario)


def test_pages_stop_at_the_limit_and_the_byte_budget(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(i, f"r{i}", {"pad": "x" * 100}) for i in range(1, 11)]
                   + [put(11, "big", {"pad": "y" * 2000}), put(12, "n1", collection="notes")])
        page, head = await s.changes("s1", 0, 4, None)
        assert (page.count, page.last_seq, page.more, head.seq) == (4, 4, True, 12)
        changes = orjson.loads(b"[" + page.changes + b"]")
        assert [c["seq"] for c in changes] == [1, 2, 3, 4]
        one = len(orjson.dumps(changes[0]))
        page, _ = await s.changes("s1", 0, 100, None, max_bytes=3 * one + 2)
        assert (page.count, page.last_seq, page.more) == (3, 3, True)
        # The first change goes in whatever its size; the page stops after it.
        page, _ = await s.changes("s1", 10, 100, None, max_bytes=10)
        assert (page.count, page.last_seq, page.more) == (1, 11, True)
        # The last page: `more` is false and the position is the head.
        page, _ = await s.changes("s1", 4, 100, None)
        assert (page.count, page.last_seq, page.more) == (8, 12, False)
        page, _ = await s.changes("s1", 8, 4, None)  # exactly the rest: no `more`
        assert (page.count, page.last_seq, page.more) == (4, 12, False)
        page, _ = await s.changes("s1", 12, 100, None)
        assert (page.count, page.changes, page.last_seq, page.more) == (0, b"", 12, False)
        # A collection filter: the position still moves to the head past other changes.
        page, _ = await s.changes("s1", 0, 100, ["notes"])
        assert (page.count, page.last_seq, page.more) == (1, 12, False)
        page, _ = await s.changes("s1", 0, 100, ["other"])
        assert (page.count, page.last_seq, page.more) == (0, 12, False)
        page, _ = await s.changes("s1", 0, 5, ["todos"])
        assert (page.count, page.last_seq, page.more) == (5, 5, True)
        page, head = await s.changes("s1", 20, 100, None)  # a cursor past the head: kept
        assert (page.count, page.last_seq, page.more, head.seq) == (0, 20, False, 12)

    backend.run(scenario)


def test_data_comes_back_exactly_as_written(backend: Backend) -> None:
    data = {"s": "quote \" backslash \\ nl \n tab \t ünï 😀 \u2028 <>&'", "n": 1.5e300,
            "big": 2**63 - 1, "neg": -(2**63), "f": 0.1, "z": None, "nested": [{"a": []}]}

    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "odd:id.-_", data)])
        (change,) = await feed(s, "s1")
        assert change["data"] == data and change["id"] == "odd:id.-_"
        patched = await push(s, "c1", [{**put(2, "odd:id.-_", {"more": "ö"}, base=1),
                                        "op": "patch"}])
        assert patched[0]["status"] == "applied"
        (change,) = await feed(s, "s1")
        assert change["data"] == {**data, "more": "ö"}

    backend.run(scenario)


def test_conflicts_are_recorded_listed_and_closed(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "n", {"t": "one"}, collection="notes"),
                             put(2, "m", {"t": "one"}, space="s2", collection="notes")],
                   MANUAL)
        await push(s, "c1", [put(3, "n", {"t": "c1"}, base=1, collection="notes")], MANUAL)
        results = await push(s, "c2", [put(1, "n", {"t": "c2"}, base=1, collection="notes"),
                                       put(2, "m", {"t": "c2"}, base=0, space="s2",
                                           collection="notes")], MANUAL)
        assert [r["status"] for r in results] == ["conflict", "conflict"]
        first, second = results[0]["conflict_id"], results[1]["conflict_id"]
        listed = await s.conflicts({"status": "open"}, 0, 10)
        assert [(c["id"], c["space"], c["status"]) for c in listed] == [
            (first, "s1", "open"), (second, "s2", "open")]
        assert [c["id"] for c in await s.conflicts({}, 0, 10, ["s2"])] == [second]
        assert await s.conflicts({}, 0, 10, []) == []
        assert [c["id"] for c in await s.conflicts({}, first, 10)] == [second]
        answer, out = await resolve(s, first, {"accept": "client"})
        answer = orjson.loads(orjson.dumps(answer))
        assert answer["record"]["data"] == {"t": "c2"} and answer["record"]["version"] == 3
        assert out.heads == {"s1": 3}
        with pytest.raises(SyncError) as closed:
            await resolve(s, first, {"accept": "server"})
        assert closed.value.code == ErrorCode.CONFLICT_CLOSED
        with pytest.raises(SyncError) as missing:
            await resolve(s, 999_999, {"accept": "server"})
        assert missing.value.code == ErrorCode.CONFLICT_NOT_FOUND
        row = (await s.conflicts({"status": "resolved"}, 0, 10))[0]
        assert row["id"] == first and orjson.loads(row["outcome"])["resolved_version"] == 3
        assert [c["seq"] for c in await feed(s, "s1")] == [3]

    backend.run(scenario)


def test_compaction_purges_old_tombstones_results_and_resolved_conflicts(
        backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "gone"), put(2, "kept"), put(3, "z", space="s2")])
        await push(s, "c1", [delete(4, "gone", base=1), put(5, "kept", {"v": 2}, base=0)])
        await push(s, "c1", [put(6, "n", collection="notes")], MANUAL)
        await push(s, "c2", [put(1, "n", {"t": 2}, base=0, collection="notes")], MANUAL)
        open_id = (await s.conflicts({}, 0, 10))[-1]["id"]
        await resolve(s, open_id, {"accept": "server"})
        before = await s.head("s1")
        await asyncio.sleep(0.01)  # time itself: compact(0) takes what is older than now
        stats = await s.compact(0)
        assert (stats.tombstones, stats.horizons) == (1, {"s1": 3})
        assert stats.mutations == 7 and stats.conflicts == 1  # n's, resolved
        head = await s.head("s1")
        assert (head.seq, head.horizon) == (before.seq, 3)
        assert "gone" not in {c["id"] for c in await feed(s, "s1")}
        assert await s.conflicts({}, 0, 10) == []
        # Results are purged: an old mid is expired, not applied again.
        again = await push(s, "c1", [put(2, "kept")])
        assert again[0]["code"] == ErrorCode.MUTATION_EXPIRED.value
        assert stats.metadata >= 1  # kept was merged: its metadata had entries to trim
        assert (await s.compact(0)).tombstones == 0

    backend.run(scenario)


def test_the_cursor_secret_is_created_once_by_concurrent_instances(backend: Backend) -> None:
    async def scenario(*storages: Any) -> None:
        secrets = await asyncio.gather(*(s.secret() for s in storages))
        assert len(set(secrets)) == 1 and len(secrets[0]) == 32
        assert await storages[0].secret() == secrets[0]

    backend.run(scenario, instances=3)


def test_epochs_are_created_once_and_renewed(backend: Backend) -> None:
    async def scenario(*storages: Any) -> None:
        first = await asyncio.gather(*(s.write(epoch.load_or_create) for s in storages))
        assert len(set(first)) == 1 and first[0].current == first[0].legacy
        old, new = await storages[1].write(epoch.renew)
        assert old == first[0].current and new != old
        again = await storages[2].write(epoch.load_or_create)
        assert (again.current, again.legacy) == (new, old)

    backend.run(scenario, instances=3)


def test_the_secret_the_epochs_and_meta_outlive_a_restart(backend: Backend) -> None:
    async def scenario(s: Any) -> tuple[bytes, epoch.Epochs]:
        return await s.secret(), await s.write(epoch.load_or_create)

    secret, epochs = backend.run(scenario)
    assert len(secret) == 32 and epochs.current == epochs.legacy
    assert backend.run(scenario) == (secret, epochs)

    async def renew(s: Any) -> tuple[str, str, str | None]:
        old, new = await s.write(epoch.renew)
        first = await s.write(lambda txn: txn.add_meta("k", "first"))
        assert await s.write(lambda txn: txn.add_meta("k", "second")) == first
        return old, new, await s.write(lambda txn: txn.get_meta(epoch.LEGACY_EPOCH))

    old, new, legacy = backend.run(renew)
    assert old == epochs.current != new and legacy == epochs.legacy


def test_a_client_id_is_bound_to_one_owner(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        assert await s.write(lambda txn: txn.client_owner("c1")) is None
        await s.write(lambda txn: txn.bind_client("c1", "alice", 1))
        assert await s.write(lambda txn: txn.client_owner("c1")) == "alice"
        assert await s.write(lambda txn: txn.client_owner("c2")) is None

    backend.run(scenario)


def test_health_is_ok_on_a_working_database(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        assert await s.health() is None
        assert s.kind == backend.kind

    backend.run(scenario)


def test_heads_and_a_range_of_rows_read_in_seq_order(backend: Backend) -> None:
    """The fan-out's reads (fanout.py): the heads of many spaces in one read, and the
    records whose last change lies in (after, upto], in seq order, each as its change."""
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "a"), put(2, "b"), put(3, "x", space="s2")])
        await push(s, "c1", [put(4, "c"), put(5, "a", base=1), put(6, "d")])
        assert await s.heads(["s1", "s2", "never"]) == {"s1": 5, "s2": 1}
        assert await s.heads([]) == {}
        rows = await s.rows_between("s1", 1, 4)
        # a (seq 1, then 4), b 2, c 3, d 5: a's first change is gone, d is past the range
        assert [(r[2], r[4]) for r in rows] == [("b", 2), ("c", 3), ("a", 4)]
        changes = [orjson.loads(r[10]) for r in rows]
        assert [(c["id"], c["version"], c["seq"]) for c in changes] == \
            [("b", 1, 2), ("c", 1, 3), ("a", 2, 4)]
        assert await s.rows_between("s1", 5, 10) == []
        assert await s.rows_between("never", 0, 10) == []

    backend.run(scenario)


def test_heads_of_a_thousand_spaces_and_the_written_spaces_by_name(backend: Backend) -> None:
    """GET /v1/spaces: the heads of every space a token grants (up to 1,000) in one read,
    and with auth off the spaces written at least once, by name, up to a limit."""
    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(i + 1, "a", space=f"s{i:04d}") for i in range(0, 1000, 7)])
        await push(s, "c1", [put(2000, "b", space="s0007")])
        names = [f"s{i:04d}" for i in range(1000)] + ["never"]
        heads = await s.heads(names)
        assert {k: v for k, v in heads.items() if v} == \
            {f"s{i:04d}": 2 if i == 7 else 1 for i in range(0, 1000, 7)}
        written = await s.written_spaces(3)
        assert list(written.items()) == [("s0000", 1), ("s0007", 2), ("s0014", 1)]
        assert len(await s.written_spaces(1000)) == len(range(0, 1000, 7))

    backend.run(scenario)


def test_a_batch_of_many_records_in_several_spaces_is_stored_whole(backend: Backend) -> None:
    """SQLite writes a batch's records in statements of up to 256 rows per (space,
    collection), then of fewer (powers of two): 301 + 7 + 1 new records and updates of
    earlier ones, interleaved, must all be stored as written, each once."""
    async def scenario(s: Any) -> None:
        first = [put(i, f"r{i}", {"n": i}) for i in range(1, 41)]
        await push(s, "c1", first)
        mixed: list[dict[str, Any]] = []
        mid = 100
        for i in range(301):
            mid += 1
            mixed.append(put(mid, f"new{i}", {"i": i, "t": "x" * (i % 7)}))
            if i < 40:  # an update of a record of the first batch, between the new ones
                mid += 1
                mixed.append({**put(mid, f"r{i + 1}", {"n": -i}, base=1), "op": "patch"})
            if i < 7:
                mid += 1
                mixed.append(put(mid, f"o{i}", {"o": i}, collection="other"))
        mid += 1
        mixed.append(put(mid, "lone", {"l": True}, space="s2"))
        results = await push(s, "c1", mixed)
        assert [r["status"] for r in results] == ["applied"] * len(mixed)
        changes = await feed(s, "s1")
        latest = {(c["collection"], c["id"]): c for c in changes}
        assert len(changes) == len(latest) == 40 + 301 + 7
        assert [c["seq"] for c in changes] == list(range(41, 41 + 348))  # every write once
        for i in range(301):
            assert latest[("todos", f"new{i}")]["data"] == {"i": i, "t": "x" * (i % 7)}
        for i in range(40):
            change = latest[("todos", f"r{i + 1}")]
            assert (change["version"], change["data"]) == (2, {"n": -i})
        assert [latest[("other", f"o{i}")]["data"] for i in range(7)] == \
            [{"o": i} for i in range(7)]
        (lone,) = await feed(s, "s2")
        assert (lone["id"], lone["data"], lone["seq"]) == ("lone", {"l": True}, 1)

    backend.run(scenario)
