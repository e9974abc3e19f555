"""The clients of ``python -m load vs``: each in a process of its own (so the tool is never
the bound on a 2-core machine, and its CPU is measured apart), started together, for a
fixed time.

A client process connects, sends nothing until every client is ready, then works from the
common start for ``duration`` seconds: a request in flight at the deadline is finished and
counted. It reports what it did, its window on the machine's monotonic clock and its own
CPU seconds; ``run_clients`` sums them and keeps a running count for the progress line."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from load.machine import process_cpu_seconds
from load.vs.wire import JSON_HEADERS, WIRES, Wire, WireError, answer, request

# spawn, not fork: the same on every OS, and no copy of the parent's state (a progress
# display's thread, open sockets) in the clients
CONTEXT = multiprocessing.get_context("spawn")
START_TIMEOUT = 60.0  # the clients' processes must be up and connected within it


@dataclass(frozen=True)
class Job:
    """One client's work. ``store``: its space or database; ``records``: for a feed, the
    changes a full read of it holds (every pass from zero is checked against it)."""

    side: str
    work: str  # "push" or "feed"
    host: str
    port: int
    store: str
    client: str
    duration: float
    batch_size: int = 500
    page_limit: int = 1000
    records: int = 0


@dataclass
class Outcome:
    units: int = 0  # writes acknowledged, or changes read
    requests: int = 0
    passes: int = 0  # feed: complete reads from zero
    started: float = 0.0
    ended: float = 0.0
    cpu_s: float = 0.0
    error: str | None = None


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _push(job: Job, wire: Wire, conn: http.client.HTTPConnection, deadline: float,
          outcome: Outcome, count: Any) -> None:
    number = 1
    while time.monotonic() < deadline:
        path, body = wire.push(job.store, job.client, number, job.batch_size)
        outcome.units += wire.acknowledged(request(conn, "POST", path, body), job.batch_size)
        outcome.requests += 1
        number += job.batch_size
        count.value = outcome.units


def _feed(job: Job, wire: Wire, conn: http.client.HTTPConnection, deadline: float,
          outcome: Outcome, count: Any) -> None:
    cursor, read = "", 0
    body: bytes | None = None  # the next page's answer, when it was asked for ahead
    while time.monotonic() < deadline:
        if body is None:
            body = request(conn, "GET", wire.feed(job.store, cursor, job.page_limit))
        after = wire.ahead(body)
        asked = after is not None and time.monotonic() < deadline
        if asked:  # the server reads the next page while this one is decoded
            path = wire.feed(job.store, str(after), job.page_limit)
            conn.request("GET", path, None, JSON_HEADERS)
        page = wire.page(body, job.page_limit)
        outcome.units += page.changes
        outcome.requests += 1
        read += page.changes
        count.value = outcome.units
        body = answer(conn, "GET", path) if asked else None
        if page.last:  # one full read: it must hold the whole store; then from zero again
            if read != job.records:
                raise WireError(f"a read from zero returned {read} changes, the store "
                                f"holds {job.records}")
            outcome.passes += 1
            cursor, read, body = "", 0, None  # (PouchDB's page after the last: dropped)
        elif not asked:
            cursor = page.cursor
        elif after != page.cursor:
            raise WireError(f"the tail's cursor {after!r} is not the page's {page.cursor!r}")


def client_main(job: Job, ready: Any, start: Any, count: Any, results: Any) -> None:
    """A client process: connect, say ready, wait for the start, work, report."""
    outcome = Outcome()
    conn = http.client.HTTPConnection(job.host, job.port, timeout=120)
    try:
        wire = WIRES[job.side]()
        conn.connect()
        ready.release()
        if not start.wait(START_TIMEOUT):
            raise WireError("the run did not start")
        cpu_before = _cpu()
        outcome.started = time.monotonic()
        work = _push if job.work == "push" else _feed
        try:
            work(job, wire, conn, outcome.started + job.duration, outcome, count)
        finally:
            outcome.ended = time.monotonic()
            outcome.cpu_s = _cpu() - cpu_before
    except (OSError, http.client.HTTPException, WireError, KeyError, ValueError) as exc:
        outcome.error = f"{job.client}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
        results.put(outcome)


@dataclass
class Measured:
    """The clients' work together: units per second over the window from the first start
    to the last end; the server's CPU seconds over the same run."""

    units: int
    requests: int
    passes: int
    seconds: float
    clients_cpu_s: float
    server_cpu_s: float | None
    errors: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_us_per_unit(self) -> float | None:
        """The server's CPU microseconds per unit: steadier than a rate on a busy machine."""
        if self.server_cpu_s is None or not self.units:
            return None
        return self.server_cpu_s * 1e6 / self.units

    def to_json(self) -> dict[str, Any]:
        per_unit = self.server_us_per_unit
        return {"units": self.units, "requests": self.requests, "passes": self.passes,
                "seconds": round(self.seconds, 3), "per_s": round(self.per_s, 1),
                "server_cpu_us_per_unit": None if per_unit is None else round(per_unit, 2),
                "clients_cpu_s": round(self.clients_cpu_s, 3),
                "server_cpu_s": None if self.server_cpu_s is None
                else round(self.server_cpu_s, 3),
                "errors": self.errors}


def run_clients(jobs: list[Job], server_pid: int | None,
                tick: Callable[[int], None] = lambda done: None) -> Measured:
    """Start one process per job, release them together, wait for all; ``tick`` gets the
    running count of units about four times a second."""
    ready = CONTEXT.Semaphore(0)
    start = CONTEXT.Event()
    results = CONTEXT.Queue()
    counts: list[Any] = [CONTEXT.Value("q", 0, lock=False) for _ in jobs]
    processes = [CONTEXT.Process(target=client_main, args=(job, ready, start, count, results),
                                 daemon=True)
                 for job, count in zip(jobs, counts, strict=True)]
    for process in processes:
        process.start()
    outcomes: list[Outcome] = []
    try:
        for _ in jobs:
            if not ready.acquire(timeout=START_TIMEOUT):
                # a client that could not connect has reported why: show that
                if not results.empty():
                    break
                raise RuntimeError("the client processes did not start within "
                                   f"{START_TIMEOUT:.0f} s")
        server_before = process_cpu_seconds(server_pid) if server_pid else None
        start.set()
        deadline = time.monotonic() + max(job.duration for job in jobs) + 300
        while len(outcomes) < len(jobs):
            tick(sum(count.value for count in counts))
            try:
                outcomes.append(results.get(timeout=0.25))
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise RuntimeError("the clients did not finish in time") from None
        server_after = process_cpu_seconds(server_pid) if server_pid else None
    finally:
        start.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()  # one of ours, by its handle
    tick(sum(count.value for count in counts))
    measured = [o for o in outcomes if o.started]
    window = (max(o.ended for o in measured) - min(o.started for o in measured)
              if measured else 0.0)
    return Measured(
        units=sum(o.units for o in outcomes),
        requests=sum(o.requests for o in outcomes),
        passes=sum(o.passes for o in outcomes),
        seconds=window,
        clients_cpu_s=sum(o.cpu_s for o in outcomes),
        server_cpu_s=(server_after - server_before
                      if server_before is not None and server_after is not None else None),
        errors=[o.error for o in outcomes if o.error],
    )
