"""The mutation log's row format: one row per push batch, not one per mutation.

Idempotency needs, for every (client_id, mid) ever applied, its fingerprint and its stored
result. Writing those as one row per mutation cost ~40% of a push's SQL (a second B-tree
insert, plus two index inserts, per mutation); packed into one `entries` blob per batch the
log costs one row per batch. Lookups are rare (replays) and read only the batches whose
[first_mid, last_mid] range meets the incoming batch's.

Entry layout, repeated: little-endian int64 mid, uint8 fingerprint length, uint32 result
length, then the fingerprint and the result JSON bytes as stored (a replay answers with
exactly these bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

_HEAD = struct.Struct("<qBI")

Entry = tuple[int, bytes, bytes]  # mid, fingerprint, result JSON


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
