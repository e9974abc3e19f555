"""The record as stored and as sent on the wire (data embedded as stored JSON text).

A record travels through a push as a `Row`, a plain tuple of the stored columns in their
order, read by name through the column positions below (`row[SEQ]`): the push hot path
makes one tuple per write and hands it to the storage as is. A NamedTuple costs more, in
instructions per pushed new record (measured again for issue 19): +11,900, 9% of a push
(load.instructions push-new, 128,677 -> 140,600), handed to sqlite3 as it is, which binds
a tuple subclass column by column through a Python-level __getitem__ (it reads an exact
tuple's array); +4,500 in the writer thread when copied to plain tuples for the flush:
building one runs Python code (its __new__). `StoredRecord` is the view of a row with
methods, for the code paths that merge and render records.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .hlc import node_of

# deleted is 0 or 1 (SQLite hands back ints; a push writes ints too: sqlite3 binds an int
# directly, where a bool goes through its adapter lookup, ~3,000 instructions per row).
Row = tuple[str, str, str, int, int, int, str, int, "str | None", "str | None", str,
            "str | None"]
# A Row's columns (the storage's column order): row[CHANGE] is typed str, row[SEQ] int.
SPACE: Final = 0
COLLECTION: Final = 1
ID: Final = 2
VERSION: Final = 3
SEQ: Final = 4
DELETED: Final = 5
HLC: Final = 6
UPDATED_AT: Final = 7
DATA: Final = 8
META: Final = 9
CHANGE: Final = 10  # the change as the feed sends it (change_json)
# The `sub` of the token that created the record (migration 0010): the role "owner" of the
# declared collections (guard/roles.py); nobody's with auth off and for records written
# before: NULL in the database (None as read back), "" in a row a push writes, which the
# INSERT stores as NULL. sqlite3 binds a str directly but looks None up among its adapters
# (a failed attribute lookup and its exception message): 4,000 instructions per new record
# (load.instructions push-new, --auth none: 113,284 -> 117,333). Never sent: a change does
# not say who wrote it.
OWNER: Final = 11
RecordKey = tuple[str, str, str]  # (space, collection, id)

# The meta (merge.py, recordmeta.py) of a record as a put created it: every field, and the
# deleted flag, at version 1 with the record's own stamp, written by that stamp's node.
# Most records are never written again, so a created record stores this marker instead of
# its meta (~180 bytes less per record, and nothing to build on the push hot path);
# parsed_meta() expands it. It is JSON: a reader that does not
# know it sees a record without per-field history, never an error.
CREATED_META = '{"created":1}'


# A record's change as the feed sends it, rendered once when it is written and stored with
# it: a change is read far more often than written (by every device of the space, and again
# on every catch-up), and rendering it on each read was two thirds of a feed page's SQL
# time. Names, ids and HLC stamps go in unquoted because their patterns (mutations.py,
# hlc.py) only admit JSON-safe characters.
def change_json(space: str, collection: str, record_id: str, version: int, seq: int,
                deleted: int, hlc: str, updated_at: int, data: str | None) -> str:
    """The record's change as the feed sends it. An f-string: it builds the text in one
    pass (a %-format took twice the instructions; a push renders one per record written).
    The SQL renders the same bytes (storage/sqlite/feed.py CHANGE_JSON, for rows written
    before migration 0004): tests/core/test_change_rendering.py checks that they agree."""
    return (f'{{"space":"{space}","collection":"{collection}","id":"{record_id}",'
            f'"version":{version},"seq":{seq},"deleted":{"true" if deleted else "false"},'
            f'"hlc":"{hlc}","updated_at":{updated_at},'
            f'"data":{"null" if deleted or data is None else data}}}')


class StoredRecord:
    __slots__ = (
        "collection",
        "data",
        "deleted",
        "hlc",
        "id",
        "meta",
        "owner",
        "seq",
        "space",
        "updated_at",
        "version",
    )

    def __init__(self, space: str, collection: str, record_id: str, version: int, seq: int,
                 deleted: int, hlc: str, updated_at: int, data: str | None,
                 meta: str | None = None, _change: str | None = None,
                 owner: str | None = None) -> None:
        # `_change` lets a stored row (with its rendered change) be splatted in.
        self.space = space
        self.collection = collection
        self.id = record_id
        self.version = version
        self.seq = seq
        self.deleted = bool(deleted)  # SQLite hands back 0 or 1
        self.hlc = hlc
        self.updated_at = updated_at
        self.data = data  # JSON text of an object; a tombstone keeps its last data
        self.meta = meta  # JSON text: per-field versions and HLC stamps (see merge.py)
        self.owner = owner  # the sub of its creator (OWNER)

    def wire(self) -> dict[str, Any]:
        """The record as a JSON-ready dict; the data is embedded without re-parsing."""
        return {
            "space": self.space,
            "collection": self.collection,
            "id": self.id,
            "version": self.version,
            "seq": self.seq,
            "deleted": self.deleted,
            "hlc": self.hlc,
            "updated_at": self.updated_at,
            "data": orjson.Fragment(self.data) if self.data and not self.deleted else None,
        }

    def parsed_data(self) -> dict[str, Any]:
        return orjson.loads(self.data) if self.data else {}

    def parsed_meta(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The per-field metadata; `data` is the parsed data, if the caller has it."""
        if self.meta == CREATED_META:
            names = data if data is not None else self.parsed_data()
            return {"f": {name: [self.version, self.hlc] for name in names},
                    "d": [self.version, self.hlc], "w": node_of(self.hlc), "x": 0}
        return orjson.loads(self.meta) if self.meta else {}

