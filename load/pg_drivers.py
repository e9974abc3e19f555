"""``python -m load.pg_drivers``: psycopg 3 against asyncpg on syncserver's own PostgreSQL
work, to back the driver choice of docs/deployment.md ("Why psycopg 3") with figures.

On a throwaway database (created, migrated to head, dropped at the end), each driver runs:

- push: one transaction as the PostgreSQL storage will run a batch of 500 new records of
  ~200 bytes: lock the client row, look up the batch's stored results, load the records,
  take a seq range under the space row's lock, upsert the 500 records with their rendered
  change, store the results (the mutation log's rows of 64 mids), NOTIFY, commit. Two
  statement shapes: `executemany` (pipelined by both drivers) and one `unnest` of arrays.
- feed: a page of 1,000 changes of one space after a random cursor, as the changes endpoint
  reads it: `string_agg` into one value (as text decoded to str, or as bytes) or 1,000 rows
  joined in Python (as bytes).

Drivers: psycopg 3 sync connections called from worker threads (what the server does: its
push core is synchronous), psycopg 3 async, asyncpg; each through its pool, `--concurrency`
tasks at once, each on its own client and space. Rounds alternate the drivers so that the
shared machine's noise falls on all of them; the table gives each figure's median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import NamedTuple
from urllib.parse import urlsplit

import asyncpg
import psycopg
from psycopg import sql

from load.pg_workload import (
    BATCH,
    COLUMNS,
    FEED_RECORDS,
    PAGE,
    Asyncpg,
    PsycopgAsync,
    PsycopgThreads,
    Push,
)
from syncserver.storage.migrate import upgrade

# -- the run ------------------------------------------------------------------------------------

Driver = PsycopgThreads | PsycopgAsync | Asyncpg
PUSH_SHAPES = ["executemany", "unnest"]
FEED_SHAPES = ["agg-bytes", "agg-str", "rows"]


def _seed(url: str) -> None:
    """The feed's space: FEED_RECORDS changes as the server stores them, copied in."""
    w = Push("seed", unnest=False)
    w.space = "feed"
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY records ({COLUMNS}) FROM STDIN") as copy:
            for start in range(0, FEED_RECORDS, BATCH):
                mids, ids = w.steps()
                for row in w.rows(mids, ids, start + BATCH):
                    copy.write_row(row)
        cur.execute("INSERT INTO spaces (space, seq, horizon) VALUES ('feed', %s, 0)",
                    (FEED_RECORDS,))
        cur.execute("ANALYZE")


class Figure(NamedTuple):
    rate: float  # units per second
    cpu_us: float  # this process's CPU µs per unit


class Cell(NamedTuple):
    """What one figure measured."""

    kind: str  # push | feed
    shape: str
    concurrency: int
    driver: str


async def _timed(duration: float, concurrency: int,
                 op: Callable[[int], Awaitable[int]]) -> Figure:
    """`concurrency` tasks calling op(task) for `duration` s. Besides the rate, the CPU time
    of this process (all its threads) per unit: the driver's own cost, which the machine's
    other load disturbs far less than it does the rate."""
    done = [0] * concurrency
    stop = time.monotonic() + duration

    async def task(n: int) -> None:
        while time.monotonic() < stop:
            done[n] += await op(n)

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(task(n) for n in range(concurrency)))
    units = sum(done)
    return Figure(units / (time.monotonic() - started), (time.process_time() - cpu) * 1e6 / units)


async def _measure(driver: Driver, kind: str, shape: str, duration: float, concurrency: int,
                   tag: str) -> Figure:
    if kind == "push":
        workers = [Push(f"{tag}-{n}", unnest=shape == "unnest") for n in range(concurrency)]

        async def push(n: int) -> int:
            await driver.push(workers[n])
            return BATCH

        await push(0)  # warm: statements prepared, pool connections in use
        return await _timed(duration, concurrency, push)
    rng = random.Random(7)

    async def feed(n: int) -> int:
        page = await driver.feed(shape, "feed", rng.randrange(FEED_RECORDS - PAGE))
        assert page.count(b'"seq":') == PAGE, "a short page: the seed is wrong"
        return PAGE

    for _ in range(6):  # past psycopg's prepare threshold (5)
        await feed(0)
    return await _timed(duration, concurrency, feed)


Figures = dict[Cell, list[Figure]]


async def _run(url: str, args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    work = [("push", s) for s in PUSH_SHAPES] + [("feed", s) for s in FEED_SHAPES]
    total = args.rounds * len(args.concurrency) * len(work) * 3
    step = 0
    for rnd in range(args.rounds):
        for concurrency in args.concurrency:
            drivers: list[Driver] = [PsycopgThreads(libpq(url), concurrency),
                                     PsycopgAsync(libpq(url), concurrency),
                                     Asyncpg(libpq(url), concurrency)]
            for d in drivers:
                if not isinstance(d, PsycopgThreads):
                    await d.open()
            if rnd % 2:
                drivers.reverse()  # neither goes first every time
            try:
                for kind, shape in work:
                    for d in drivers:
                        step += 1
                        tag = f"{rnd}-{concurrency}-{shape}-{d.name[:8]}-{uuid.uuid4().hex[:6]}"
                        figure = await _measure(d, kind, shape, args.duration, concurrency,
                                                tag)
                        figures.setdefault(Cell(kind, shape, concurrency, d.name),
                                           []).append(figure)
                        unit = "mutation" if kind == "push" else "change"
                        print(f"[{step}/{total}] round {rnd + 1}, {concurrency} at once, "
                              f"{kind} {shape:<11} {d.name:<26} {figure.rate:>10,.0f} {unit}s/s"
                              f" {figure.cpu_us:>6.1f} µs CPU/{unit}", file=sys.stderr, flush=True)
            finally:
                for d in drivers:
                    await d.close()
    return figures


def _table(figures: Figures, names: list[str]) -> str:
    """Each cell: the median rate, and (in brackets) the median client CPU µs per unit."""
    lines = ["| work | at once | " + " | ".join(names) + " | asyncpg / psycopg threads: "
             "rate, client CPU |", "|---|---|" + "---|" * (len(names) + 1)]
    for (kind, shape, concurrency) in dict.fromkeys((c.kind, c.shape, c.concurrency)
                                                    for c in figures):
        cells = [figures[Cell(kind, shape, concurrency, n)] for n in names]
        rates = [statistics.median(f.rate for f in cell) for cell in cells]
        cpus = [statistics.median(f.cpu_us for f in cell) for cell in cells]
        unit = "mutations/s" if kind == "push" else "changes/s"
        lines.append(f"| {kind} ({shape}), {unit} | {concurrency} | "
                     + " | ".join(f"{r:,.0f} ({c:.1f} µs)"
                                  for r, c in zip(rates, cpus, strict=True))
                     + f" | {rates[2] / rates[0]:.2f}x, {cpus[2] / cpus[0]:.2f}x |")
    return "\n".join(lines)


def libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.pg_drivers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get(
        "SYNCSERVER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="libpq URL of a database to connect to for CREATE DATABASE (default: the "
             "local postgres one, or SYNCSERVER_TEST_PG)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per figure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--concurrency", type=lambda t: [int(x) for x in t.split(",")],
                        default=[1, 4], help="tasks at once, comma-separated (default 1,4)")
    args = parser.parse_args(argv)
    name = f"syncserver_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlsplit(args.server)._replace(path=f"/{name}").geturl()
    try:
        print(f"database {name}: migrating to head, seeding {FEED_RECORDS:,} changes ...",
              file=sys.stderr, flush=True)
        upgrade(url)
        _seed(url)
        figures = asyncio.run(_run(url, args))
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        print(f"database {name} dropped", file=sys.stderr, flush=True)
    names = [PsycopgThreads.name, PsycopgAsync.name, Asyncpg.name]
    print(f"psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}, "
          f"{psycopg.pq.__impl__}), asyncpg {asyncpg.__version__}; batches of {BATCH}, "
          f"pages of {PAGE}; median of {args.rounds} rounds of {args.duration:g} s\n")
    print(_table(figures, names))


if __name__ == "__main__":
    main()
