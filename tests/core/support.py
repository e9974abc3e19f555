"""Direct reads of the SQLite file and raw-socket requests: checks that do not go through
the server's own code paths."""

from __future__ import annotations

import socket
import sqlite3
import struct
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.helpers import metric_value


def read_db(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_records(path: Path, space: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The records of a space as the SQLite file holds them, in the wire shape (a tombstone
    may keep its last data in storage; on the wire its data is null)."""
    rows = read_db(path, "SELECT collection, id, version, seq, deleted, hlc, updated_at, data "
                         "FROM records WHERE space = ?", (space,))
    return {(r[0], r[1]): {"space": space, "collection": r[0], "id": r[1], "version": r[2],
                           "seq": r[3], "deleted": bool(r[4]), "hlc": r[5],
                           "updated_at": r[6],
                           "data": orjson.loads(r[7]) if r[7] and not r[4] else None}
            for r in rows}


def stored_mutations(path: Path, client_id: str | None = None) -> list[tuple[str, int, bytes]]:
    """(client_id, mid, result JSON) of every stored mutation result, read from the packed
    rows of `mutation_batches` (int64 mid, uint8 and uint32 lengths, fingerprint, result)."""
    sql = "SELECT client_id, entries FROM mutation_batches"
    rows = read_db(path, sql + " WHERE client_id = ?", (client_id,)) if client_id else \
        read_db(path, sql)
    out = []
    for cid, blob in rows:
        offset = 0
        while offset < len(blob):
            mid, fp_len, result_len = struct.unpack_from("<qBI", blob, offset)
            offset += 13 + fp_len
            out.append((cid, mid, bytes(blob[offset:offset + result_len])))
            offset += result_len
    return sorted(out)


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every data table: to show a request changed nothing."""
    tables = ("records", "spaces", "mutation_batches", "clients", "meta")
    return {t: sorted(read_db(path, f"SELECT * FROM {t}"), key=repr) for t in tables}


def data_snapshot(path: Path) -> dict[str, list[tuple]]:
    """The records and feed heads (a rejected mutation stores its result, never data)."""
    full = snapshot(path)
    return {"records": full["records"], "spaces": full["spaces"]}


def send_and_hang_up(port: int, path: str, body: bytes) -> None:
    """Send a whole HTTP request, then close the socket without reading the answer: a
    response lost on the way back (a phone going into a tunnel)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_RDWR)


def metric(client: httpx.Client, name: str, labels: str = "") -> float:
    """A sample of the Prometheus text at /metrics (0 when absent)."""
    return metric_value(client.get("/metrics").text, name, labels)


def pull(client: httpx.Client, space: str, since: str = "", limit: int = 1000,
         **params: Any) -> dict[str, Any]:
    r = client.get("/v1/changes", params={"space": space, "since": since, "limit": limit,
                                          **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
