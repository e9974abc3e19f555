"""``python -m load.feedbench``: the changefeed of one large space, on SQLite or PostgreSQL.

Two steps (docs/load.md, "The changefeed of a large space"):

- ``fill --db DB --records N``: the schema is migrated (``syncserver migrate``) and N records
  of one space are written straight into the database, in seq order, in chunks
  (executemany on SQLite, COPY on PostgreSQL): a million in about a minute, where pushing
  them would take far longer. Their collections take turns (``--collections``, named
  ``c0``, ``c1``, ...) and one record in ``--rare-every`` is in the collection ``rare``.
  Each change is rendered as the server renders it (model/records.py change_json).
- ``read --db DB``: a server is started on the database, and the tool measures the time of
  filtered pages (a filter that matches nothing, one that matches the rare collection, two
  collections) and the unfiltered feed read from cursor zero by ``--readers`` plain readers
  (http.client keep-alive connections, one process each, following cursors without
  decoding pages: the server's side only), with the server's CPU time per change.

The server is this checkout's (``python -m syncserver``); it targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from load.machine import process_cpu_seconds
from load.spawn import SpawnedServer
from syncserver.config.setting_kinds import is_postgresql
from syncserver.model.records import change_json

SPACE = "s0"
CHUNK = 20_000
DATA = '{"title":"%s","done":false,"n":%d,"tags":["a","b"]}'  # ~200 bytes, as load.instructions
TITLE = "x" * 120


def _records(count: int, collections: int, rare_every: int) -> Iterator[tuple[Any, ...]]:
    stamp = int(time.time() * 1000) - 3_600_000
    for seq in range(1, count + 1):
        collection = "rare" if rare_every and seq % rare_every == 0 else f"c{seq % collections}"
        data = DATA % (TITLE, seq)
        hlc = f"{stamp + seq:013d}:00000:fill"
        change = change_json(SPACE, collection, f"r{seq}", 1, seq, False, hlc, stamp, data)
        yield (SPACE, collection, f"r{seq}", 1, seq, False, hlc, stamp, data,
               '{"created":1}', change, len(change.encode()))


def _migrate(db: str) -> None:
    subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", db], check=True)


def fill(db: str, count: int, collections: int, rare_every: int) -> None:
    _migrate(db)
    started = time.monotonic()
    rows = _records(count, collections, rare_every)
    if is_postgresql(db):
        _fill_postgresql(db, rows, count)
    else:
        _fill_sqlite(db, rows, count)
    print(f"filled {count:,} records of space {SPACE} in {time.monotonic() - started:.1f} s",
          file=sys.stderr)


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
        yield chunk


def _fill_sqlite(db: str, rows: Iterator[tuple[Any, ...]], count: int) -> None:
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    columns = _columns(conn.execute("SELECT * FROM records LIMIT 0").description)
    conn.execute("BEGIN")
    insert = f"INSERT INTO records ({', '.join(columns)}) VALUES " \
        f"({', '.join('?' * len(columns))})"
    for chunk in _chunks(rows):
        conn.executemany(insert, [row[:len(columns)] for row in chunk])
    conn.execute("INSERT INTO spaces (space, seq, horizon) VALUES (?, ?, 0) ON CONFLICT "
                 "(space) DO UPDATE SET seq = excluded.seq", (SPACE, count))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _fill_postgresql(db: str, rows: Iterator[tuple[Any, ...]], count: int) -> None:
    import psycopg

    from syncserver.storage.migrate import libpq_url

    with psycopg.connect(libpq_url(db)) as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT * FROM records LIMIT 0")
            columns = _columns(cursor.description or [])
            with cursor.copy(f"COPY records ({', '.join(columns)}) FROM STDIN") as copy:
                for chunk in _chunks(rows):
                    for row in chunk:
                        copy.write_row(row[:len(columns)])
            cursor.execute("INSERT INTO spaces (space, seq, horizon) VALUES (%s, %s, 0) ON "
                           "CONFLICT (space) DO UPDATE SET seq = excluded.seq", (SPACE, count))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE records")


def _columns(description: Any) -> list[str]:
    """The record's columns this database has, in the order _records yields them (a
    database migrated before the change size was stored has one fewer)."""
    have = {d[0] for d in description}
    wanted = ["space", "collection", "id", "version", "seq", "deleted", "hlc", "updated_at",
              "data", "meta", "change", "change_size"]
    columns = [c for c in wanted if c in have]
    assert columns == wanted[:len(columns)], columns
    return columns


# -- reading -------------------------------------------------------------------------------

def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
    return body


def _cursor_of(body: bytes) -> tuple[str, bool]:
    """The page's cursor and `more`, from its tail: the changes are not decoded."""
    start = body.rindex(b'"cursor":"') + 10
    return body[start:body.index(b'"', start)].decode(), body.endswith(b'"more":true}')


def read_feed(port: int, limit: int, collections: str | None = None) -> tuple[int, float]:
    """The whole feed from cursor zero on one keep-alive connection: (changes, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    extra = f"&collections={urllib.parse.quote(collections)}" if collections else ""
    cursor, changes, more = "", 0, True
    started = time.perf_counter()
    while more:
        body = _get(conn, f"/v1/changes?space={SPACE}&since={cursor}&limit={limit}{extra}")
        # one '"seq":' per change: counted without decoding
        changes += body.count(b'"seq":')
        cursor, more = _cursor_of(body)
    seconds = time.perf_counter() - started
    conn.close()
    return changes, seconds


def _reader(args: tuple[int, int]) -> tuple[int, float]:
    return read_feed(*args)


def filtered_page_ms(port: int, filters: str, repeat: int) -> float:
    """The median time of one filtered page from cursor zero, in ms (after one unmeasured)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    path = f"/v1/changes?space={SPACE}&limit=1000&collections={urllib.parse.quote(filters)}"
    _get(conn, path)  # warm-up: the server's first reads open its connections
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        _get(conn, path)
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return statistics.median(times)


def read(db: str, readers: int, limit: int, rounds: int, repeat: int,
         server_args: list[str]) -> None:
    with SpawnedServer(["--auth", "none", *server_args], startup_timeout=120,
                       env={"SYNCSERVER_RATE_LIMIT": "0"}, db=db) as server:
        assert server.proc is not None
        pid, port = server.proc.pid, server.port
        print(f"| measure ({'PostgreSQL' if is_postgresql(db) else 'SQLite'}) | result |")
        print("|---|---|")
        for filters in ("none", "rare", "rare,none", "c0"):
            ms = filtered_page_ms(port, filters, repeat)
            print(f"| a filtered page, collections={filters} | {ms:.2f} ms |", flush=True)
        read_feed(port, limit)  # warm-up: the database's pages in the cache
        for n in sorted({1, readers}):
            cpu = process_cpu_seconds(pid) or 0.0
            started = time.perf_counter()
            with multiprocessing.Pool(n) as pool:
                results = pool.map(_reader, [(port, limit)] * (n * rounds))
            wall = time.perf_counter() - started
            cpu = (process_cpu_seconds(pid) or 0.0) - cpu
            changes = sum(c for c, _ in results)
            print(f"| feed, {n} reader(s), pages of {limit} | {changes / wall:,.0f} changes/s, "
                  f"server CPU {cpu / changes * 1e6:.2f} us per change |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.feedbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    filling = steps.add_parser("fill", help="migrate the database and write the records")
    filling.add_argument("--db", required=True, help="a SQLite file or postgresql://...")
    filling.add_argument("--records", type=int, default=1_000_000)
    filling.add_argument("--collections", type=int, default=10)
    filling.add_argument("--rare-every", type=int, default=100_000,
                         help="one record in this many is in the collection 'rare'")
    reading = steps.add_parser("read", help="serve the database and measure its feed")
    reading.add_argument("--db", required=True)
    reading.add_argument("--readers", type=int, default=4)
    reading.add_argument("--limit", type=int, default=1000, help="changes per page")
    reading.add_argument("--rounds", type=int, default=1,
                         help="times each reader reads the whole feed")
    reading.add_argument("--repeat", type=int, default=5, help="reads of each filtered page")
    reading.add_argument("--server-args", default="", help="more arguments for the server")
    args = parser.parse_args(argv)
    if args.step == "fill":
        fill(args.db, args.records, args.collections, args.rare_every)
    else:
        read(args.db, args.readers, args.limit, args.rounds, args.repeat,
             args.server_args.split())
    return 0


if __name__ == "__main__":
    sys.exit(main())
