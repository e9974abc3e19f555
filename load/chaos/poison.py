"""Poison mutations: hostile payloads sent inside ordinary batches, next to innocent
mutations. Each is queued in the outbox under the client's next mid, like any mutation,
and must come back ``rejected`` (never a 500, never a stored change) while its neighbours
settle. Their bytes are written by hand: orjson would refuse to render most of them (deep
nesting, integers beyond 64 bits), which is the point.

Limits assumed are the server's defaults (docs/configuration.md): the record limit
``SYNCSERVER_MAX_RECORD_BYTES`` is 256,000 bytes, and orjson parses up to 1024 levels.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from load.replica import Key

Raw = Callable[[int], bytes]  # mid -> the mutation's JSON bytes
OVERSIZED = 300_000  # bytes of data: over the default record limit (256,000)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _named(key: Key) -> dict[str, Any]:
    space, collection, record_id = key
    return {"space": space, "collection": collection, "id": record_id}


def _wire(key: Key, mid: int, op: str, base: int, stamp: str, data: bytes | None) -> bytes:
    head = orjson.dumps({"mid": mid, **_named(key), "op": op, "base_version": base,
                         "hlc": stamp})[:-1]
    return head + (b',"data":' + data if data is not None else b"") + b"}"


def payloads(key: Key, base: int, stamp: str, other_node: str) -> dict[str, Raw]:
    """Every poison kind aimed at record ``key``: name -> raw mutation bytes."""
    spoofed = stamp.rsplit(":", 1)[0] + ":" + other_node
    wire: dict[str, Any] = {**_named(key), "hlc": stamp}
    return {
        # parsed fine, but orjson cannot render past 254 levels: the record would hold null
        "deep_put_300": lambda mid: _wire(key, mid, "put", base, stamp,
                                          b'{"a":' + _nested(300) + b"}"),
        "deep_put_1000": lambda mid: _wire(key, mid, "put", base, stamp,
                                           b'{"a":' + _nested(1000) + b"}"),
        "deep_patch_1000": lambda mid: _wire(key, mid, "patch", base, stamp,
                                             b'{"a":' + b'{"a":' * 999 + b"1" + b"}" * 1000),
        "bigint": lambda mid: _wire(key, mid, "patch", base, stamp,
                                    b'{"n":' + str(2**70).encode() + b"}"),
        "unknown_op": lambda mid: _wire(key, mid, "upsert", base, stamp, b'{"a":1}'),
        "base_as_string": lambda mid: orjson.dumps(
            {**wire, "mid": mid, "op": "patch", "base_version": str(base), "data": {"a": 1}}),
        "data_as_list": lambda mid: _wire(key, mid, "put", base, stamp, b"[1,2,3]"),
        "hlc_as_number": lambda mid: orjson.dumps(
            {**wire, "mid": mid, "op": "patch", "base_version": base, "hlc": 42,
             "data": {"a": 1}}),
        "oversized": lambda mid: _wire(key, mid, "patch", base, stamp,
                                       b'{"blob":"' + b"x" * OVERSIZED + b'"}'),
        "inc_of_string": lambda mid: _wire(key, mid, "patch", base, stamp,
                                           b'{"likes":{"$inc":"many"}}'),
        "add_not_a_list": lambda mid: _wire(key, mid, "patch", base, stamp,
                                            b'{"tags":{"$add":"urgent"}}'),
        "bad_space_name": lambda mid: orjson.dumps(
            {**wire, "mid": mid, "space": "no spaces allowed!", "op": "patch",
             "base_version": base, "data": {"a": 1}}),
        # protocol 2: the HLC node of a mutation is its pushing client (else invalid_hlc)
        "spoofed_hlc_node": lambda mid: _wire(key, mid, "patch", base, spoofed, b'{"a":1}'),
    }


# Heavy kinds (big bodies) are drawn less often.
WEIGHTS = {"oversized": 0.2, "deep_put_1000": 0.5, "deep_patch_1000": 0.5}


def poison_mutation(rng: random.Random, key: Key, base: int, stamp: str,
                    other_node: str, kind: str | None = None) -> dict[str, Any]:
    """A mutation for the outbox: ``raw`` renders it; ``poison`` names its kind (the
    checker expects it rejected)."""
    table = payloads(key, base, stamp, other_node)
    if kind is None:
        kinds = sorted(table)
        kind = rng.choices(kinds, [WEIGHTS.get(k, 1.0) for k in kinds])[0]
    return {**_named(key), "poison": kind, "raw": table[kind]}


def bad_link(key: Key, base: int, stamp: str) -> dict[str, Any]:
    """A link of an offline chain that the server must reject (a counter operation with a
    non-numeric argument), so the links after it are judged without it."""
    return {**_named(key), "poison": "bad_link",
            "raw": lambda mid: _wire(key, mid, "patch", base, stamp,
                                     b'{"title":{"$inc":"x"}}')}
