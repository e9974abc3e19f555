"""``python -m load vs pouchdb``: the same work against syncserver and against PouchDB Server
(4.2.0, in memory), side by side, in one run (issue 22: push >= 5x and feed >= 8x PouchDB
Server, with 1 client and with 4).

Work, for each client count of ``--clients``, syncserver then PouchDB back to back:
- push: N clients each push batches of ``--batch-size`` new ~200-byte records to a store of
  their own, waiting for each answer, for ``--duration`` s: writes acknowledged per second;
- feed: a store prefilled with ``--records`` records; N readers each read it from zero in
  pages of ``--page-limit``, following the cursor, again and again for ``--duration`` s:
  changes read per second.

Each client is a process of its own, on a plain keep-alive ``http.client`` connection. The
servers' and the clients' CPU seconds are measured over each run. After each push run the
stores are read back: the records stored must be the writes acknowledged. syncserver runs
on a temporary SQLite file with its defaults (WAL, synchronous FULL). Exit status: 0 every
run clean, 1 a run failed or a check did not hold, 2 bad usage or a server could not start."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import secrets
import shlex
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from load.machine import machine_info
from load.spawn import SpawnedServer
from load.targets import url_problem
from load.vs import pouchdb_peer
from load.vs.clients import Job, Measured, run_clients
from load.vs.report import Row, print_table, write_report
from load.vs.sides import Side, check_stored
from load.vs.wire import POUCHDB, SYNCSERVER, WireError

WORKS = ("push", "feed")
UNITS = {"push": "writes acknowledged", "feed": "changes read"}
MAX_CLIENTS, MAX_DURATION, MAX_RECORDS = 64, 600.0, 1_000_000


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of counts: {text!r}") from None
    if not values or not all(0 < v <= MAX_CLIENTS for v in values):
        raise argparse.ArgumentTypeError(f"counts in 1..{MAX_CLIENTS}, got {text!r}")
    return values


def _choices(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [part.strip() for part in text.split(",") if part.strip()]
        if not values or set(values) - set(allowed):
            raise argparse.ArgumentTypeError(f"some of {','.join(allowed)}, got {text!r}")
        return [v for v in allowed if v in values]  # the canonical order

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load vs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("peer", choices=[POUCHDB], help="the server to compare with")
    p.add_argument("--clients", type=_int_list, default=[1, 4],
                   help="client counts, each run on both sides (default 1,4)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds of each run, per work, client count and side (default 10)")
    p.add_argument("--work", type=_choices(WORKS), default=list(WORKS),
                   help="push, feed or both (default push,feed)")
    p.add_argument("--sides", type=_choices((SYNCSERVER, POUCHDB)),
                   default=[SYNCSERVER, POUCHDB],
                   help="the servers to run (default both; syncserver alone needs no npm)")
    p.add_argument("--records", type=int, default=100_000,
                   help="records of the feed's store (default 100,000)")
    p.add_argument("--batch-size", type=int, default=500, help="records per push (500)")
    p.add_argument("--page-limit", type=int, default=1000, help="changes per page (1,000)")
    p.add_argument("--server-args", default="",
                   help="extra `syncserver serve` options for the spawned server")
    p.add_argument("--syncserver-url",
                   help="a running syncserver (auth off, loopback) instead of a spawned one")
    p.add_argument("--syncserver-pid", type=int,
                   help="with --syncserver-url: its process, for its CPU seconds")
    p.add_argument("--peer-dir", type=Path,
                   help="where the peer is installed (default ~/.cache/syncserver-load)")
    p.add_argument("--out", type=Path,
                   help="report directory (default load-report-vs-PEER-TIME)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION:
        p.error(f"--duration must be in (0, {MAX_DURATION:.0f}], got {args.duration}")
    if not 0 < args.records <= MAX_RECORDS:
        p.error(f"--records must be in (0, {MAX_RECORDS:,}], got {args.records}")
    if not 0 < args.batch_size <= 10_000 or not 0 < args.page_limit <= 1000:
        p.error("--batch-size must be in (0, 10000] and --page-limit in (0, 1000]")
    if args.syncserver_url:
        problem = url_problem(args.syncserver_url, allow_remote=False)
        if problem or urlsplit(args.syncserver_url).path.strip("/"):
            p.error(problem or "--syncserver-url: no path prefix (http://host:port)")
    return args


class Display:
    """Progress on stderr: a bar per run with its running count, or plain lines."""

    def __init__(self, enabled: bool) -> None:
        self.console = Console(stderr=True, soft_wrap=True)
        # a bar needs a terminal; elsewhere (a CI log) the line of each run is the progress
        self.enabled = enabled and self.console.is_terminal

    def say(self, text: str) -> None:
        self.console.print(escape(text))

    @contextlib.contextmanager
    def run(self, label: str, total: float, unit: str) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda done: None
            return
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                            console=self.console, transient=True)
        task = progress.add_task(label, total=total, info="")
        started: list[float] = []

        def tick(done: int) -> None:
            if done and not started:
                started.append(time.monotonic())
            elapsed = time.monotonic() - started[0] if started else 0.0
            progress.update(task, completed=min(elapsed, total), info=f"{done:,} {unit}")

        with progress:
            yield tick


def _syncserver_info(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/openapi.json", timeout=30) as answer:
        info = orjson.loads(answer.read()).get("info", {})
    return {"version": info.get("version"), "storage": "SQLite (a temporary file when "
            "spawned), its defaults: WAL, synchronous FULL"}


@contextlib.contextmanager
def started_sides(args: argparse.Namespace, display: Display) -> Iterator[dict[str, Side]]:
    """The servers of the run, started (syncserver spawned unless --syncserver-url), and
    stopped by their own pids at the end."""
    sides: dict[str, Side] = {}
    with contextlib.ExitStack() as stack:
        if SYNCSERVER in args.sides:
            if args.syncserver_url:
                side = Side(SYNCSERVER, args.syncserver_url.rstrip("/"), args.syncserver_pid)
            else:
                display.say("starting syncserver (a temporary SQLite file)")
                server = stack.enter_context(SpawnedServer(
                    ["--auth", "none", *shlex.split(args.server_args)]))
                side = Side(SYNCSERVER, server.url, server.proc.pid if server.proc else None)
            side.info = _syncserver_info(side.url)
            sides[SYNCSERVER] = side
        if POUCHDB in args.sides:
            directory = pouchdb_peer.install(display.say, args.peer_dir)
            display.say(f"starting pouchdb-server {pouchdb_peer.VERSION} --in-memory")
            peer = stack.enter_context(pouchdb_peer.PouchdbServer(directory))
            sides[POUCHDB] = Side(POUCHDB, peer.url, peer.pid, {
                "version": peer.info.get("version"), "storage": "in memory (--in-memory)",
                "adapters": peer.info.get("pouchdb-adapters"), "installed_in": str(directory)})
        yield sides


def measure(side: Side, work: str, clients: int, args: argparse.Namespace, run_id: str,
            display: Display) -> tuple[Measured, list[str]]:
    """One run: ``clients`` clients doing ``work`` on ``side``; the stores they used."""
    if work == "push":
        stores = [f"vs-{run_id}-push{clients}-c{i}" for i in range(clients)]
        side.prepare(stores)
    else:
        stores = [f"vs-{run_id}-feed"] * clients
    jobs = [Job(side=side.name, work=work, host=side.host, port=side.port, store=store,
                client=f"vs-{run_id}-{work}{clients}-c{i}", duration=args.duration,
                batch_size=args.batch_size, page_limit=args.page_limit, records=args.records)
            for i, store in enumerate(stores)]
    label = f"{work}, {clients} client{'s' if clients > 1 else ''}, {side.name}"
    with display.run(label, args.duration, UNITS[work]) as tick:
        measured = run_clients(jobs, side.pid, tick)
    if work == "push" and not measured.errors:
        problem = check_stored(side, stores, measured.units)
        if problem:
            measured.errors.append(problem)
    cpu = "-" if measured.server_cpu_s is None else f"{measured.server_cpu_s:.1f}"
    display.say(f"{label}: {measured.per_s:,.0f} {UNITS[work]}/s ({measured.units:,} in "
                f"{measured.seconds:.1f} s; server CPU {cpu} s, clients CPU "
                f"{measured.clients_cpu_s:.1f} s)" + "".join(f"\n  error: {e}"
                                                          for e in measured.errors))
    return measured, sorted(set(stores))


def prefill(sides: dict[str, Side], args: argparse.Namespace, run_id: str,
            display: Display) -> None:
    """A warm-up push on each side, and the feed's store filled (not measured)."""
    for side in sides.values():
        side.prepare([f"vs-{run_id}-warmup"])
        side.fill(f"vs-{run_id}-warmup", f"vs-{run_id}-warmup", 5 * args.batch_size,
                  args.batch_size)
        if "feed" not in args.work:
            continue
        side.prepare([f"vs-{run_id}-feed"])
        with display.run(f"filling the feed's store, {side.name}", args.records,
                         "records") as tick:
            side.fill(f"vs-{run_id}-feed", f"vs-{run_id}-fill", args.records, args.batch_size,
                      tick)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    display = Display(not args.no_progress)
    run_id = secrets.token_hex(3)
    out = args.out or Path(f"load-report-vs-{args.peer}-{time.strftime('%Y%m%d-%H%M%S')}")
    report: dict[str, Any] = {
        "tool": "python -m load vs", "run_id": run_id, "machine": machine_info(),
        "settings": {"peer": args.peer, "clients": args.clients, "duration_s": args.duration,
                     "work": args.work, "sides": args.sides, "records": args.records,
                     "batch_size": args.batch_size, "page_limit": args.page_limit,
                     "record_bytes": "about 200 (JSON)", "client": "http.client, keep-alive, "
                     "one process per client, every answer decoded with orjson"},
    }
    rows: list[Row] = []
    try:
        with started_sides(args, display) as sides:
            report["servers"] = {name: {"url": s.url, **s.info} for name, s in sides.items()}
            prefill(sides, args, run_id, display)
            for work in args.work:
                for clients in args.clients:
                    row = Row(work, clients)
                    for side in sides.values():
                        row.results[side.name], row.stores[side.name] = measure(
                            side, work, clients, args, run_id, display)
                    rows.append(row)
    except (pouchdb_peer.PeerError, RuntimeError) as exc:
        display.console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    except (OSError, http.client.HTTPException, WireError) as exc:
        # a server that stopped answering, or refused the warm-up, a fill or a database
        display.console.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))}")
        return 2
    path = write_report(report, rows, out)
    print_table(rows)
    display.say(f"report: {path}")
    return 1 if any(m.errors for row in rows for m in row.results.values()) else 0
