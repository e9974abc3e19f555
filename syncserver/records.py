"""The record as stored and as sent on the wire (data embedded as stored JSON text)."""

from __future__ import annotations

from typing import Any

import orjson


class StoredRecord:
    __slots__ = (
        "collection",
        "data",
        "deleted",
        "hlc",
        "id",
        "meta",
        "seq",
        "space",
        "updated_at",
        "version",
    )

    def __init__(self, space: str, collection: str, record_id: str, version: int, seq: int,
                 deleted: bool, hlc: str, updated_at: int, data: str | None,
                 meta: str | None = None) -> None:
        self.space = space
        self.collection = collection
        self.id = record_id
        self.version = version
        self.seq = seq
        self.deleted = deleted
        self.hlc = hlc
        self.updated_at = updated_at
        self.data = data  # JSON text of an object; a tombstone keeps its last data
        self.meta = meta  # JSON text: per-field versions and HLC stamps (see merge.py)

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

    def parsed_meta(self) -> dict[str, Any]:
        return orjson.loads(self.meta) if self.meta else {}
