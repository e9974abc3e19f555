"""The two servers of ``python -m load vs`` as the comparison sees them: where each listens,
its process (for its CPU seconds), how a store is made ready, filled and counted back.

A store is what one client writes to or one reader follows: a space on syncserver (made by
its first write), a database on PouchDB (``PUT /DB``). Counting back is the check that the
acknowledged writes are really stored: syncserver's feed of the space read from zero (every
change, each new record once), PouchDB's ``doc_count``."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from load.vs.wire import POUCHDB, WIRES, Wire, WireError, request


@dataclass
class Side:
    name: str  # syncserver or pouchdb
    url: str
    pid: int | None  # the server's process on this machine, for its CPU; None: unknown
    info: dict[str, Any] = field(default_factory=dict)  # versions, storage: for the report

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def wire(self) -> Wire:
        return WIRES[self.name]()

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=300)

    def prepare(self, stores: list[str]) -> None:
        """Make the stores ready for writes: PouchDB's databases are created first."""
        if self.name != POUCHDB:
            return
        conn = self.connect()
        try:
            for store in stores:
                request(conn, "PUT", f"/{quote(store)}")
        finally:
            conn.close()

    def fill(self, store: str, client: str, records: int, batch_size: int,
             say: Callable[[int], None] = lambda done: None) -> None:
        """Write ``records`` new records into ``store`` (outside any measured window)."""
        wire, conn = self.wire(), self.connect()
        try:
            done = 0
            while done < records:
                count = min(batch_size, records - done)
                path, body = wire.push(store, client, done + 1, count)
                done += wire.acknowledged(request(conn, "POST", path, body), count)
                say(done)
        finally:
            conn.close()

    def stored(self, store: str, page_limit: int = 1000) -> int:
        """The records the store holds, as the server reports them back."""
        conn = self.connect()
        try:
            if self.name == POUCHDB:
                return int(orjson.loads(request(conn, "GET", f"/{quote(store)}"))["doc_count"])
            wire, cursor, ids = self.wire(), "", set[str]()
            while True:
                answer = orjson.loads(request(conn, "GET", wire.feed(store, cursor,
                                                                     page_limit)))
                ids.update(change["id"] for change in answer["changes"])
                cursor = answer["cursor"]
                if not answer["more"]:
                    return len(ids)
        finally:
            conn.close()


def check_stored(side: Side, stores: list[str], acknowledged: int) -> str | None:
    """None when the stores hold exactly the acknowledged writes, else what differs."""
    try:
        held = sum(side.stored(store) for store in stores)
    except (OSError, http.client.HTTPException, WireError, KeyError, ValueError) as exc:
        return f"{side.name}: the stores could not be read back: {exc}"
    if held != acknowledged:
        return f"{side.name}: {acknowledged} writes acknowledged, {held} records stored"
    return None
