"""The mutation log's row format: one row per push batch, not one per mutation.

Idempotency needs, for every (client_id, mid) ever applied, its fingerprint and its stored
result. Writing those as one row per mutation cost ~40% of a push's SQL (a second B-tree
insert, plus two index inserts, per mutation); packed into one `entries` blob per batch the
log costs a few rows per batch.

The rows of a batch are cut by mid: every row holds mids of one aligned block of `BLOCK`
mids (first_mid // BLOCK == last_mid // BLOCK). A lookup then reads, for each block that the
incoming batch's mids fall in, that block's rows: at most BLOCK entries per mid looked up,
whatever mids the batch or earlier batches carried (a batch with mids 1 and 2**63-1 would
otherwise be one row that every later lookup reads, and its lookup would read every row of
the client's history). A batch of consecutive mids, the ordinary kind, is a row per
BLOCK mids. Migration 0005 cut the rows written before; BLOCK is part of the stored format.

Entry layout, repeated: little-endian int64 mid, uint8 fingerprint length, uint32 result
length, then the fingerprint and the result JSON bytes as stored (a replay answers with
exactly these bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

_HEAD = struct.Struct("<qBI")

# Plain tuples, unpacked by name where read, not NamedTuples: a push makes an Entry per
# mutation, and building a NamedTuple costs ~2,600 instructions more than a tuple (its
# __new__ is Python code; callgrind, CPython 3.11), ~2% of a push of a new record.
Entry = tuple[int, bytes, bytes]  # (mid, fingerprint, result JSON)
StoredResult = tuple[bytes, bytes]  # (fingerprint, result JSON): PushTransaction.stored_results
# A mutation_batches row: client_id, first_mid, last_mid, count, created_at, entries.
BatchRow = tuple[str, int, int, int, int, bytes]

BLOCK = 64  # a power of two: the last block ends at 2**63 - 1, the highest mid


class MidRange(NamedTuple):
    low: int
    high: int  # included


def by_block(entries: Iterable[Entry]) -> list[list[Entry]]:
    """The entries cut into rows: one per block of mids met, entries in their given order."""
    rows: dict[int, list[Entry]] = {}
    for entry in entries:
        mid, _fingerprint, _result = entry
        block = mid // BLOCK
        row = rows.get(block)
        if row is None:
            rows[block] = [entry]
        else:
            row.append(entry)
    return list(rows.values())


def batch_rows(client_id: str, entries: Iterable[Entry], created_at: int) -> list[BatchRow]:
    """The mutation_batches rows that store `entries` (by_block: 8-9 for 500 consecutive
    mids)."""
    rows = []
    for block in by_block(entries):
        mids = [mid for mid, _fingerprint, _result in block]
        rows.append((client_id, min(mids), max(mids), len(block), created_at, encode(block)))
    return rows


def block_ranges(mids: Iterable[int]) -> list[MidRange]:
    """The mid ranges, block-aligned, that hold every row with one of `mids`: runs of
    adjacent blocks are merged, so a batch of consecutive mids is one range."""
    ranges: list[MidRange] = []
    for block in sorted({mid // BLOCK for mid in mids}):
        low = block * BLOCK
        if ranges and ranges[-1].high + 1 == low:
            low = ranges.pop().low
        ranges.append(MidRange(low, block * BLOCK + BLOCK - 1))
    return ranges


def encode(entries: Iterable[Entry]) -> bytes:
    pack = _HEAD.pack
    parts: list[bytes] = []
    add = parts.extend
    for mid, fp, result in entries:
        add((pack(mid, len(fp), len(result)), fp, result))
    return b"".join(parts)


def decode(blob: bytes) -> Iterator[Entry]:
    view = memoryview(blob)
    offset, end, size = 0, len(blob), _HEAD.size
    while offset < end:
        mid, fp_len, result_len = _HEAD.unpack_from(view, offset)
        offset += size
        fingerprint = bytes(view[offset:offset + fp_len])
        offset += fp_len
        yield mid, fingerprint, bytes(view[offset:offset + result_len])
        offset += result_len


def find(blob: bytes, wanted: set[int] | frozenset[int]) -> Iterator[Entry]:
    """The entries of `blob` whose mid is in `wanted`; the others are stepped over uncopied."""
    view = memoryview(blob)
    offset, end, size, unpack = 0, len(blob), _HEAD.size, _HEAD.unpack_from
    while offset < end:
        mid, fp_len, result_len = unpack(view, offset)
        offset += size
        if mid in wanted:
            start = offset + fp_len
            yield mid, bytes(view[offset:start]), bytes(view[start:start + result_len])
        offset += fp_len + result_len
