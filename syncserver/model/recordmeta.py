"""A record's conflict metadata: who wrote what, so a write can be judged against what its
client had actually seen, and how the metadata is kept bounded.

The stored shape (JSON; merge.py reads and writes it):

    {"f": {field: [version, stamp]},     last plain write of each top-level field
     "d": [version, stamp],               last write of the deleted flag
     "w": node, "x": version,             the record's last writer, and the highest version
                                          written by anyone else (exact and O(1))
     "p": {field: [version, stamp, other]},           last commutative op on the field
     "e": {field: {element: [version, stamp, other]}}}  set elements added since the
                                          field's last plain write (merge.py, commutative.py)

The writer of a write is the node of its HLC stamp, which equals the pushing client id
(protocol 2). `[version, stamp, other]` is "the last writer of this thing, and the highest
version anyone else wrote it at": enough to answer "did someone other than client C change
it since version B?" exactly. Records stored before "w" existed (legacy) are judged as they
were: every change since the base counts as someone else's.
"""

from __future__ import annotations

from typing import Any

import orjson

from .hlc import MS, node_of

Entry = list[Any]  # [version, stamp] or [version, stamp, other]


def legacy(meta: dict[str, Any], version: int) -> bool:
    """A record written before writers were tracked: no own writes can be told apart."""
    return version > 0 and "w" not in meta


def record_changed_by_others(meta: dict[str, Any], version: int, base: int,
                             client: str) -> bool:
    """Did anyone but `client` write the record after version `base`?"""
    writer = meta.get("w")
    if writer == client:
        return int(meta.get("x", 0)) > base
    return version > base


def next_writers(meta: dict[str, Any], version: int, writer: str) -> tuple[str, int]:
    """("w", "x") after `writer` writes the record that is now at `version`."""
    last = meta.get("w")
    if last == writer:
        return writer, int(meta.get("x", 0))
    return writer, version  # unknown (legacy) or another writer: all before may be others'


def field_changed_by_others(entry: Entry | None, base: int, client: str, old: bool) -> bool:
    """Was a plain field (or the deleted flag) written by someone else after `base`? A
    field's own last write by `client` settled any earlier concurrent write already (it
    was judged against it when it arrived)."""
    if entry is None or entry[0] <= base:
        return False
    return old or node_of(entry[1]) != client


def tag_changed_by_others(entry: Entry | None, base: int, client: str) -> bool:
    """For [version, stamp, other] entries: did anyone but `client` write after `base`?"""
    if entry is None:
        return False
    if node_of(entry[1]) == client:
        return int(entry[2]) > base
    return int(entry[0]) > base


def retag(entry: Entry | None, version: int, stamp: str) -> Entry:
    """The [version, stamp, other] entry after a write at `version` stamped `stamp`."""
    if entry is None:
        return [version, stamp, 0]
    if node_of(entry[1]) == node_of(stamp):
        return [version, stamp, entry[2]]
    return [version, stamp, entry[0]]


def saw_epoch(epoch: Entry | None, base: int, client: str) -> bool:
    """Had `client`, writing on `base`, seen the field's last plain write? (Its own it
    has: a device's queue is replayed in order.)"""
    return epoch is None or epoch[0] <= base or node_of(epoch[1]) == client


# -- bounds ------------------------------------------------------------------------------


def compact(meta_json: str, data_json: str | None, cutoff_ms: int) -> str | None:
    """The metadata without what is older than the horizon, or None when nothing goes:
    entries of fields the record no longer has, op entries and set-element tags whose
    stamps are older than `cutoff_ms`, and the per-element history of older releases."""
    try:
        meta = orjson.loads(meta_json)
        data = orjson.loads(data_json) if data_json else {}
    except orjson.JSONDecodeError:
        return None
    if not isinstance(meta, dict) or not isinstance(data, dict):
        return None
    cutoff = f"{cutoff_ms:013d}"
    changed = meta.pop("s", None) is not None  # per-element stamps of older releases
    fields = meta.get("f", {})
    for name in [n for n, (_v, stamp) in fields.items() if n not in data and stamp[MS] < cutoff]:
        del fields[name]
        changed = True
    ops = meta.get("p", {})
    for name in [n for n, entry in ops.items() if entry[1][MS] < cutoff]:
        del ops[name]
        changed = True
    tags = meta.get("e", {})
    for name, elements in list(tags.items()):
        old = [key for key, entry in elements.items() if entry[1][MS] < cutoff]
        for key in old:  # the element stays in the data: it counts as present since the
            del elements[key]  # field's last plain write
        changed = changed or bool(old)
        if not elements:
            del tags[name]
    for key in ("p", "e"):
        if key in meta and not meta[key]:
            del meta[key]
    return orjson.dumps(meta).decode() if changed else None
