"""What one unit of work is on the wire, for each side of ``python -m load vs``: the same
records pushed, the same feed read, in each server's own protocol.

- push: a batch of new ~200-byte records (the body of ``load.instructions``); syncserver
  ``POST /v1/push`` (docs/protocol.md), PouchDB ``POST /DB/_bulk_docs`` with the same ids
  and the same fields. A unit is one write the server acknowledged: ``applied`` in
  syncserver's ``results``, ``ok`` in PouchDB's answer; anything else stops the client.
- feed: one page of up to ``limit`` changes with their records, following the cursor;
  syncserver ``GET /v1/changes?space=S&since=C&limit=L``, PouchDB
  ``GET /DB/_changes?since=C&limit=L&include_docs=true`` (the documents, as syncserver's
  changes carry their records). Every page is decoded with orjson on both sides: the client
  does the same work whichever server it reads. A reader is pipelined as the load tool's
  pulls are (load/pulls.py): the next page is asked for, its cursor read from the tail of
  the body, before this page is decoded, so that the server works while the client decodes.
  PouchDB's tail says no "more": its reader asks for the page after the last one too, and
  throws that empty answer away (one request in 100 with pages of 1,000 of 100,000 records).

Both sides' clients use ``http.client`` (one keep-alive connection per client process)."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from load.instructions import DATA  # ~200 bytes of JSON per record
from load.pulls import page_tail

SYNCSERVER, POUCHDB = "syncserver", "pouchdb"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class WireError(Exception):
    """An answer that is not the acknowledgement or the page the work expects."""


@dataclass(frozen=True)
class Page:
    changes: int  # changes on this page
    cursor: str  # where the next page starts
    last: bool  # the feed has no more changes now


class Wire(Protocol):
    """One server's protocol for the two kinds of work; ``store`` is a space (syncserver)
    or a database (PouchDB)."""

    def push(self, store: str, client: str, first: int, count: int) -> tuple[str, bytes]:
        """(path, body) that writes records ``first .. first + count - 1`` of ``client``."""
        ...

    def acknowledged(self, body: bytes, count: int) -> int:
        """The writes of a push's answer the server acknowledged; raises WireError unless
        all ``count`` were."""
        ...

    def feed(self, store: str, cursor: str, limit: int) -> str:
        """The path of the feed page after ``cursor`` ("" from the start)."""
        ...

    def page(self, body: bytes, limit: int) -> Page: ...

    def ahead(self, body: bytes) -> str | None:
        """The cursor after this page, read from the body's tail without decoding its
        changes; None if the tail says this page is the last."""
        ...


def record_id(client: str, number: int) -> str:
    return f"{client}-r{number}"


def record(number: int) -> dict[str, Any]:
    return {**DATA, "n": number}


class SyncserverWire:
    def __init__(self) -> None:
        # an hour back: the stamps of a long run stay behind the server's clock
        self.stamp_ms = int(time.time() * 1000) - 3_600_000

    def push(self, store: str, client: str, first: int, count: int) -> tuple[str, bytes]:
        mutations = [
            {"mid": number, "space": store, "collection": "todos",
             "id": record_id(client, number), "op": "put", "base_version": 0,
             "hlc": f"{self.stamp_ms + number:013d}:00000:{client}", "data": record(number)}
            for number in range(first, first + count)
        ]
        return "/v1/push", orjson.dumps({"client_id": client, "mutations": mutations})

    def acknowledged(self, body: bytes, count: int) -> int:
        results = orjson.loads(body)["results"]
        applied = sum(1 for result in results if result["status"] == "applied")
        if applied != count or len(results) != count:
            odd = next((r for r in results if r["status"] != "applied"), None)
            raise WireError(f"{applied} of {count} writes applied: {odd}")
        return applied

    def feed(self, store: str, cursor: str, limit: int) -> str:
        return f"/v1/changes?space={quote(store)}&since={quote(cursor)}&limit={limit}"

    def page(self, body: bytes, limit: int) -> Page:
        answer = orjson.loads(body)
        return Page(len(answer["changes"]), answer["cursor"], not answer["more"])

    def ahead(self, body: bytes) -> str | None:
        tail = page_tail(body)
        if tail is None:
            raise WireError(f"a changes page without its cursor at the end: {body[-300:]!r}")
        return str(tail["cursor"]) if tail["more"] else None


class PouchdbWire:
    def push(self, store: str, client: str, first: int, count: int) -> tuple[str, bytes]:
        docs = [{"_id": record_id(client, number), **record(number)}
                for number in range(first, first + count)]
        return f"/{quote(store)}/_bulk_docs", orjson.dumps({"docs": docs})

    def acknowledged(self, body: bytes, count: int) -> int:
        results = orjson.loads(body)
        ok = sum(1 for result in results if result.get("ok") is True)
        if ok != count or len(results) != count:
            odd = next((r for r in results if r.get("ok") is not True), None)
            raise WireError(f"{ok} of {count} writes acknowledged: {odd}")
        return ok

    def feed(self, store: str, cursor: str, limit: int) -> str:
        return (f"/{quote(store)}/_changes?since={quote(cursor or '0')}&limit={limit}"
                "&include_docs=true")

    def page(self, body: bytes, limit: int) -> Page:
        answer = orjson.loads(body)
        count = len(answer["results"])
        # CouchDB's feed has no "more": a short page is the last one (so a feed of an exact
        # multiple of the limit costs one more, empty, request)
        return Page(count, str(answer["last_seq"]), count < limit)

    def ahead(self, body: bytes) -> str | None:
        at = body.rfind(b'"last_seq":')
        try:
            tail = orjson.loads(b"{" + body[at:]) if at >= 0 else None
        except orjson.JSONDecodeError:
            tail = None
        if not isinstance(tail, dict):
            raise WireError(f"a _changes page without last_seq at the end: {body[-300:]!r}")
        return str(tail["last_seq"])


WIRES: dict[str, type[SyncserverWire] | type[PouchdbWire]] = {
    SYNCSERVER: SyncserverWire, POUCHDB: PouchdbWire}


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: bytes | None = None) -> bytes:
    """One request on a keep-alive connection; a status other than 200/201 is a WireError."""
    conn.request(method, path, body, JSON_HEADERS)
    return answer(conn, method, path)


def answer(conn: http.client.HTTPConnection, method: str, path: str) -> bytes:
    """The body of the answer to the request sent last on ``conn``."""
    response = conn.getresponse()
    data = response.read()
    if response.status not in (200, 201):
        raise WireError(f"{method} {path.split('?')[0]}: HTTP {response.status}: {data[:300]!r}")
    return data
