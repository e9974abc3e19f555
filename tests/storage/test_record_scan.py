"""Storage.scan_records and count_records (storage/record_scan.py), on each backend: the
live records of some collections, a page at a time in key order, what `syncserver
collections check` validates."""

from __future__ import annotations

from typing import Any

import orjson

from syncserver.storage.record_scan import START
from tests.storage.support import Backend, delete, push, put


async def _scan_all(s: Any, collections: list[str], limit: int) -> list[tuple[Any, ...]]:
    out, after, pages = [], START, 0
    while True:
        page = await s.scan_records(collections, after, limit)
        assert len(page) <= limit
        pages += 1
        out.extend((r.space, r.collection, r.id, orjson.loads(r.data)) for r in page)
        if len(page) < limit:
            return out
        after = page[-1].key
        assert pages < 100, "the scan does not move on"


def test_a_scan_reads_every_live_record_of_its_collections_once_in_key_order(
        backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        writes = [put(n, f"t{n:02}", {"n": n}, space=f"s{n % 3}") for n in range(1, 13)]
        writes += [put(20 + n, f"n{n}", {"note": n}, space="s1", collection="notes")
                   for n in range(3)]
        writes += [put(30, "x", {"other": True}, collection="other")]
        await push(s, "c1", writes)
        await push(s, "c1", [delete(40, "t03", 1, space="s0"),  # a tombstone: not live
                             delete(41, "n1", 1, space="s1", collection="notes")])
        expected = sorted(
            [(f"s{n % 3}", "todos", f"t{n:02}", {"n": n}) for n in range(1, 13) if n != 3]
            + [("s1", "notes", f"n{n}", {"note": n}) for n in (0, 2)])
        for limit in (1, 4, 5, 100):  # page edges on every kind of boundary
            assert await _scan_all(s, ["todos", "notes"], limit) == expected
        assert await s.count_records(["todos", "notes"]) == len(expected) == 13
        assert await _scan_all(s, ["notes"], 1) == [e for e in expected if e[1] == "notes"]
        assert await s.count_records(["nothing"]) == 0
        assert await s.scan_records([], START, 10) == [] and await s.count_records([]) == 0
        # A page starts strictly after the key it is given.
        first = (await s.scan_records(["todos"], START, 1))[0]
        after = await s.scan_records(["todos"], first.key, 100)
        assert first.key not in [r.key for r in after] and len(after) == 10

    backend.run(scenario)
