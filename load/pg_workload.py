"""The work of ``python -m load.pg_drivers`` (load/pg_drivers.py): syncserver's push and
feed statements on PostgreSQL, as each driver runs them (psycopg 3 sync from worker threads,
psycopg 3 async, asyncpg), each through its own pool."""


from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import psycopg
import psycopg_pool

from syncserver.model.records import CREATED_META, change_json
from syncserver.storage import mutation_log

BATCH, PAGE, FEED_RECORDS = 500, 1000, 20_000
DATA = '{"title":"%s","done":false,"n":%d}'
COLUMNS = "space, collection, id, version, seq, deleted, hlc, updated_at, data, meta, change"
SET = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS.split(", ")[3:])
TYPES = ["text", "text", "text", "int8", "int8", "bool", "text", "int8", "text", "text", "text"]

# asyncpg's placeholders; psycopg's %s are made from them (each $n used once, in order).
LOCK_CLIENT = ("INSERT INTO clients (client_id, purged_mid) VALUES ($1, 0) ON CONFLICT "
               "(client_id) DO UPDATE SET purged_mid = clients.purged_mid RETURNING purged_mid")
STORED = "SELECT entries FROM mutation_batches WHERE client_id = $1 AND last_mid BETWEEN $2 AND $3"
LOAD = f"SELECT {COLUMNS} FROM records WHERE space = $1 AND collection = $2 AND id = ANY($3)"
TAKE_SEQ = ("INSERT INTO spaces (space, seq, horizon) VALUES ($1, $2, 0) ON CONFLICT (space) "
            "DO UPDATE SET seq = spaces.seq + $3 RETURNING seq")
UPSERT = (f"INSERT INTO records ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 12))}) "
          f"ON CONFLICT (space, collection, id) DO UPDATE SET {SET}")
UPSERT_UNNEST = (f"INSERT INTO records ({COLUMNS}) SELECT * FROM unnest("
                 f"{', '.join(f'${i}::{t}[]' for i, t in enumerate(TYPES, 1))}) "
                 f"ON CONFLICT (space, collection, id) DO UPDATE SET {SET}")
LOG = ("INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, created_at, "
       "entries) VALUES ($1, $2, $3, $4, $5, $6)")
LOG_UNNEST = ("INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, "
              "created_at, entries) SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], "
              "$4::int8[], $5::int8[], $6::bytea[])")
NOTIFY = "SELECT pg_notify('syncserver_changes', $1)"
PAGE_ROWS = "SELECT seq, change FROM records WHERE space = $1 AND seq > $2 ORDER BY seq LIMIT $3"
FEED_AGG = f"SELECT count(*), max(seq), string_agg(change, ',' ORDER BY seq) FROM ({PAGE_ROWS}) p"
FEED_ROWS = PAGE_ROWS.replace("seq, change", "change", 1)


def psycopg_sql(text: str) -> str:
    # %b: parameters in binary. For arrays it matters: a text[] of 500 values sent as %s
    # (text) took ~10 ms to send and parse, as %b ~1.6 ms (measured here).
    return re.sub(r"\$\d+", "%b", text)


class Push:
    """One worker's push batches: its own client, space and mids."""

    def __init__(self, tag: str, unnest: bool) -> None:
        self.client, self.space, self.unnest = f"c-{tag}", f"push-{tag}", unnest
        self.next_mid, self.count = 1, 0

    def steps(self) -> tuple[list[int], list[str]]:
        mids = list(range(self.next_mid, self.next_mid + BATCH))
        self.next_mid += BATCH
        return mids, [f"r{mid}" for mid in mids]

    def rows(self, mids: list[int], ids: list[str], head: int) -> list[tuple[Any, ...]]:
        now, out = int(time.time() * 1000), []
        for k, (mid, rid) in enumerate(zip(mids, ids, strict=True)):
            seq, hlc, data = head - BATCH + 1 + k, f"{now:013d}:00000:bench", DATA % (
                "x" * 150, mid)
            out.append((self.space, "todos", rid, 1, seq, False, hlc, now, data, CREATED_META,
                        change_json(self.space, "todos", rid, 1, seq, False, hlc, now, data)))
        return out

    def log_rows(self, mids: list[int]) -> list[tuple[Any, ...]]:
        entries = [(m, b"\x01" * 16, b'{"mid":%d,"status":"applied","version":1}' % m)
                   for m in mids]
        return list(mutation_log.batch_rows(self.client, entries, int(time.time() * 1000)))

    def notice(self, head: int) -> str:
        return f'{{"i":"bench","s":"{self.space}","p":{head - BATCH},"h":{head}}}'


def columns_of(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


# text read in binary format is its UTF-8 bytes: psycopg's C bytea loader returns them as
# they came, what a response body needs (no str decoded, then encoded again).
TEXT_AS_BYTES: Any = psycopg.adapters.get_loader(17, psycopg.pq.Format.BINARY)  # 17: bytea


def _feed_bytes(kind: str, row: Any) -> bytes:
    """The page's JSON from a driver's FEED_AGG row: text ("agg-str") or bytes."""
    _count, _last_seq, page = row
    if kind == "agg-str":
        text: str = page
        return text.encode()
    body: bytes = page
    return body


# -- psycopg 3, sync connections from worker threads ------------------------------------------

class PsycopgThreads:
    name = "psycopg 3 (sync, threads)"

    def __init__(self, url: str, size: int) -> None:
        # autocommit: a read is one round trip (no BEGIN before it, no ROLLBACK when the
        # pool takes the connection back), as with asyncpg; a push opens its transaction.
        self.pool = psycopg_pool.ConnectionPool(url, min_size=size, max_size=size, open=True,
                                                kwargs={"autocommit": True})
        self.threads = ThreadPoolExecutor(size, thread_name_prefix="pg")

    async def push(self, w: Push) -> None:
        await asyncio.get_running_loop().run_in_executor(self.threads, self._push, w)

    def _push(self, w: Push) -> None:
        mids, ids = w.steps()
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(psycopg_sql(LOCK_CLIENT), (w.client,))
            low, high = mutation_log.block_ranges(mids)[0]  # 500 consecutive mids: one range
            conn.execute(psycopg_sql(STORED), (w.client, low, high)).fetchall()
            conn.execute(psycopg_sql(LOAD), (w.space, "todos", ids)).fetchall()
            (head,) = conn.execute(psycopg_sql(TAKE_SEQ), (w.space, BATCH, BATCH)).fetchone() \
                or (0,)
            rows, log = w.rows(mids, ids, head), w.log_rows(mids)
            with conn.cursor() as cur:
                if w.unnest:
                    cur.execute(psycopg_sql(UPSERT_UNNEST), columns_of(rows))
                    cur.execute(psycopg_sql(LOG_UNNEST), columns_of(log))
                else:
                    cur.executemany(psycopg_sql(UPSERT), rows)
                    cur.executemany(psycopg_sql(LOG), log)
            conn.execute(psycopg_sql(NOTIFY), (w.notice(head),))

    async def feed(self, kind: str, space: str, after: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(
            self.threads, self._feed, kind, space, after)

    def _feed(self, kind: str, space: str, after: int) -> bytes:
        with self.pool.connection() as conn, conn.cursor(binary=kind != "agg-str") as cur:
            if kind != "agg-str":
                cur.adapters.register_loader("text", TEXT_AS_BYTES)
            if kind == "rows":
                cur.execute(psycopg_sql(FEED_ROWS), (space, after, PAGE))
                return b",".join(r[0] for r in cur.fetchall())
            cur.execute(psycopg_sql(FEED_AGG), (space, after, PAGE))
            return _feed_bytes(kind, cur.fetchone())

    async def close(self) -> None:
        self.pool.close()
        self.threads.shutdown()


# -- psycopg 3, async ---------------------------------------------------------------------------

class PsycopgAsync:
    name = "psycopg 3 (async)"

    def __init__(self, url: str, size: int) -> None:
        self.pool = psycopg_pool.AsyncConnectionPool(url, min_size=size, max_size=size,
                                                     open=False, kwargs={"autocommit": True})

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def push(self, w: Push) -> None:
        mids, ids = w.steps()
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(psycopg_sql(LOCK_CLIENT), (w.client,))
            low, high = mutation_log.block_ranges(mids)[0]  # 500 consecutive mids: one range
            await (await conn.execute(psycopg_sql(STORED), (w.client, low, high))).fetchall()
            await (await conn.execute(psycopg_sql(LOAD), (w.space, "todos", ids))).fetchall()
            cur = await conn.execute(psycopg_sql(TAKE_SEQ), (w.space, BATCH, BATCH))
            (head,) = await cur.fetchone() or (0,)
            rows, log = w.rows(mids, ids, head), w.log_rows(mids)
            async with conn.cursor() as cur:
                if w.unnest:
                    await cur.execute(psycopg_sql(UPSERT_UNNEST), columns_of(rows))
                    await cur.execute(psycopg_sql(LOG_UNNEST), columns_of(log))
                else:
                    await cur.executemany(psycopg_sql(UPSERT), rows)
                    await cur.executemany(psycopg_sql(LOG), log)
            await conn.execute(psycopg_sql(NOTIFY), (w.notice(head),))

    async def feed(self, kind: str, space: str, after: int) -> bytes:
        async with self.pool.connection() as conn, conn.cursor(binary=kind != "agg-str") as cur:
            if kind != "agg-str":
                cur.adapters.register_loader("text", TEXT_AS_BYTES)
            if kind == "rows":
                await cur.execute(psycopg_sql(FEED_ROWS), (space, after, PAGE))
                return b",".join(r[0] for r in await cur.fetchall())
            await cur.execute(psycopg_sql(FEED_AGG), (space, after, PAGE))
            return _feed_bytes(kind, await cur.fetchone())

    async def close(self) -> None:
        await self.pool.close()


# -- asyncpg ------------------------------------------------------------------------------------

async def _no_reset(conn: asyncpg.Connection) -> None:
    """psycopg's pool sends nothing when a connection comes back idle; asyncpg's default
    reset is a round trip (RESET ALL, UNLISTEN *, ...): left out so drivers are compared."""


async def _text_as_bytes(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("text", schema="pg_catalog", format="binary",
                              encoder=lambda v: v if isinstance(v, bytes) else v.encode(),
                              decoder=bytes)


class Asyncpg:
    name = "asyncpg"

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.url, min_size=self.size,
                                              max_size=self.size, reset=_no_reset)
        self.bytes_pool = await asyncpg.create_pool(self.url, min_size=self.size,
                                                    max_size=self.size, reset=_no_reset,
                                                    init=_text_as_bytes)

    async def push(self, w: Push) -> None:
        mids, ids = w.steps()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_CLIENT, w.client)
            low, high = mutation_log.block_ranges(mids)[0]  # 500 consecutive mids: one range
            await conn.fetch(STORED, w.client, low, high)
            await conn.fetch(LOAD, w.space, "todos", ids)
            head = await conn.fetchval(TAKE_SEQ, w.space, BATCH, BATCH)
            rows, log = w.rows(mids, ids, head), w.log_rows(mids)
            if w.unnest:
                await conn.execute(UPSERT_UNNEST, *columns_of(rows))
                await conn.execute(LOG_UNNEST, *columns_of(log))
            else:
                await conn.executemany(UPSERT, rows)
                await conn.executemany(LOG, log)
            await conn.execute(NOTIFY, w.notice(head))

    async def feed(self, kind: str, space: str, after: int) -> bytes:
        pool = self.pool if kind == "agg-str" else self.bytes_pool
        async with pool.acquire() as conn:
            if kind == "rows":
                return b",".join(r[0] for r in await conn.fetch(FEED_ROWS, space, after, PAGE))
            return _feed_bytes(kind, await conn.fetchrow(FEED_AGG, space, after, PAGE))

    async def close(self) -> None:
        await self.pool.close()
        await self.bytes_pool.close()
