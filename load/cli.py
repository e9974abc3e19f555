"""``python -m load SCENARIO``: run a scenario against syncserver, check convergence, write
report.json and report.html. Exit status: 0 clean, 1 anomalies found, 2 bad usage or setup."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

from load.checker import ClientView, Feed, Verdict, check
from load.http import HttpConnection, HttpError
from load.journal import Journal
from load.machine import NOT_MEASURED, cpu_sample, cpu_split, machine_info
from load.memory import MemoryLog
from load.progress import progress_bar
from load.quiet_gc import quiet_gc
from load.recorder import Recorder
from load.report import build_report, print_summary, write_reports
from load.scenarios import SCENARIOS
from load.settings import Settings
from load.snapshot import SnapshotError, read_audit, read_feed
from load.spawn import SpawnedServer, spawn_auth
from load.stats import Stats
from load.targets import validate

CHECK_PAGE = 97  # the second feed read uses an odd page size, to catch pagination bugs


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    d = Settings(scenario="")
    p = argparse.ArgumentParser(prog="python -m load", description=__doc__)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument(
        "--url",
        action="append",
        default=[],
        help="server base URL; repeat for several instances (clients are spread)",
    )
    p.add_argument(
        "--spawn",
        action="store_true",
        help="start `syncserver serve` on a free port with a temporary SQLite file",
    )
    p.add_argument(
        "--server-args",
        default="",
        help="with --spawn: extra `syncserver serve` options, e.g. '--ws-queue 8' (a small "
        "queue makes slow consumers overflow within a short run)",
    )
    p.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="with --url: the pid of a server process on this machine (repeat for several "
        "instances): the report shows their CPU, summed, as the server's",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow non-loopback targets")
    p.add_argument("--out", type=Path, help="report directory (default load-report-SCENARIO-TIME)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--chaos",
        action="store_true",
        help="the randomized convergence run: same as --mix all (chained offline edits, "
        "commutative operations, slow WebSocket consumers, hostile clients)",
    )
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    p.add_argument(
        "--ws-client",
        choices=("raw", "websockets"),
        default="raw",
        help="WebSocket client implementation (default raw: cheaper per frame)",
    )
    for name, kind, help_text in [
        ("clients", int, "simulated clients"),
        ("duration", float, "seconds of load (a bound)"),
        ("max_mutations", int, "stop after this many mutations"),
        ("batch_size", int, "mutations per push"),
        ("record_size", int, "bytes of JSON per record"),
        ("spaces", int, "spaces the clients share (with --spaces-per-client N > 1: the "
                        "shared pool)"),
        ("spaces_per_client", int, "spaces each client follows over one WebSocket or one "
                                   "POST /v1/pull: N > 1 is a private space plus N-1 of the "
                                   "shared pool, drawn from the seed (initial-sync: the N "
                                   "spaces a new client joins)"),
        ("token", str, "bearer token to send"),
        ("token_secret", str, "mint a per-client HS256 token with this secret, granting the "
                              "client's spaces (with --spawn: the server runs --auth jwt "
                              "with it)"),
        ("read_only_clients", int, "with --token-secret: the first N clients' tokens grant "
                                   "their spaces read-only, so their pushes are forbidden"),
        ("seed", int, "random seed"),
        ("mix", str, "contention, offline-burst: chaos mix, 'all' or some of "
                     "chains,ops,slow,hostile"),
        ("slow_consumers", int, "with --mix slow: WebSocket subscribers that read in fits"),
        ("hostile_clients", int, "with --mix hostile: clients sending poison mutations"),
        ("page_limit", int, "page size of pulls"),
        ("settle_timeout", float, "seconds to wait for quiescence"),
        ("ws_ratio", float, "steady: share of clients on the WebSocket"),
        ("pull_every", int, "steady: HTTP clients pull every N pushes (0: only at the end)"),
        ("interval", float, "steady: pause between a client's pushes"),
        ("revocations", int, "steady, with --token-secret and --spaces-per-client > 1: "
                             "clients whose refreshed token takes away one shared space "
                             "mid-run, and (two in three) a later one gives it back"),
        ("patch_share", float, "steady, offline-burst: share of writes that patch a record"),
        ("delete_share", float, "steady, offline-burst: share of writes that delete one"),
        ("offline_max", float, "offline-burst: longest offline period, seconds"),
        ("writes_per_s", float, "offline-burst: writes per second while offline"),
        ("replay_twice", float, "offline-burst: share of replays sent twice"),
        ("drop_response", float, "offline-burst: share of replays whose response is lost"),
        ("hot_records", int, "contention: records everyone edits"),
        ("fields", int, "contention: fields per record"),
        ("subscribers", int, "fanout: WebSocket subscribers"),
        ("writers", int, "fanout: writers"),
        ("rate", float, "fanout: total writes per second"),
        ("procs", int, "fanout: spread the subscribers but --sample over this many processes "
                       "of cheap receivers that only count frames (load/receivers.py)"),
        ("sample", int, "fanout, with --procs: subscribers that decode and time each change"),
        ("records", int, "initial-sync: records to seed"),
        ("readers", int, "initial-sync: fresh clients pulling at once"),
    ]:
        p.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            default=getattr(d, name),
            help=f"{help_text} (default {getattr(d, name)})",
        )
    args = p.parse_args(argv)
    if args.chaos:
        args.mix = "all"
    values = {k: getattr(args, k) for k in vars(d) if k not in ("scenario", "urls")}
    settings = Settings(scenario=args.scenario, urls=[u.rstrip("/") for u in args.url], **values)
    return settings, args


async def server_info(url: str) -> dict[str, Any]:
    conn = HttpConnection(url, timeout=10)
    info: dict[str, Any] = {"url": url}
    try:
        for path in ("/healthz", "/openapi.json"):
            response = await conn.request("GET", path)
            if response is not None and response.status == 200:
                doc = orjson.loads(response.body)
                info.update(doc.get("info", {}) if path == "/openapi.json" else {"health": doc})
    except (HttpError, orjson.JSONDecodeError) as exc:
        info["error"] = str(exc)
    finally:
        await conn.close()
    info.pop("description", None)
    return info


async def execute(
    settings: Settings, show_progress: bool, server_pid: int | list[int] | None = None
) -> tuple[Stats, Verdict | None, dict[str, Any]]:
    first = server_pid[0] if isinstance(server_pid, list) and server_pid else server_pid
    stats, memory = Stats(), MemoryLog(first if isinstance(first, int) else None)
    stats.extra["machine"] = machine_info()
    cpu = stats.extra["cpu"] = {"start": cpu_sample(server_pid)}
    server = await server_info(settings.urls[0])
    scenario = SCENARIOS[settings.scenario](settings, stats, Recorder())
    scenario.memory = memory
    # The history goes to disk, one file per partition of the spaces (load/journal.py).
    journal = scenario.recorder = Journal(scenario.space_names)
    bound = settings.duration + settings.settle_timeout + 60
    verdict = None
    try:
        async with memory.sampling(), progress_bar(stats, settings.duration, show_progress,
                                                   memory), quiet_gc():
            before = cpu_sample(server_pid)
            load_started = stats.elapsed()
            try:
                await asyncio.wait_for(scenario.run(), bound)
            except TimeoutError:
                stats.error("run_timeout", f"the scenario did not stop within {bound:.0f} s")
                scenario.stopping = True
            except (OSError, ConnectionError, HttpError) as exc:
                # e.g. WebSocket connections refused: still settle and check what was done
                stats.error("scenario_failed", f"{type(exc).__name__}: {exc}")
                scenario.stopping = True
            # CPU of each side during setup + load (not the settle and check phases)
            cpu["load_phase"] = cpu_split(before, cpu_sample(server_pid))
            stats.end_load_phase()
            load_ended = stats.elapsed()
        memory.mark("load")
        async with memory.sampling():
            started = time.monotonic()
            try:
                await asyncio.wait_for(scenario.settle(), settings.settle_timeout * 3 + 30)
            except TimeoutError:
                stats.error("settle_timeout", "clients did not reach quiescence")
            stats.extra["settle_s"] = round(time.monotonic() - started, 3)
            stats.finish()
            # seconds since the start of the timeline, for the charts
            stats.extra["phases_s"] = {
                "load": [round(load_started, 3), round(load_ended, 3)],
                "settle": [round(load_ended, 3), round(stats.elapsed(), 3)],
            }
            memory.mark("settle")
            # --token, or a read-only token of its own per partition of the spaces
            token_for = scenario.checker_token
            try:
                audit: list[dict[str, Any]] = []
                for part in journal.parts:
                    audit += await read_audit(settings.urls[0], part, token_for(part))
                journal.audit = audit
            except (SnapshotError, HttpError, orjson.JSONDecodeError, KeyError) as exc:
                stats.error("audit_unreadable", str(exc))  # the checker warns audit_unavailable
            started = time.monotonic()
            verdict = await check_run(settings, scenario.views(), journal, token_for)
            stats.extra["check_s"] = round(time.monotonic() - started, 3)
            memory.mark("check")
    finally:
        await scenario.close()
        journal.close()
        stats.extra["memory"] = memory.to_json()
    return stats, verdict, server


async def check_run(
    settings: Settings, views: list[ClientView], journal: Journal,
    token_for: Callable[[list[str]], str | None] = lambda spaces: None,
) -> Verdict:
    """The checker, one partition of spaces at a time: its history read back from the
    journal, its feed read from cursor zero (from every URL, and once more with page size
    97), and the clients' stores for those spaces. Memory holds one partition at a time."""
    verdict = Verdict()
    results = 0
    for spaces, recorder in journal.partitions():
        feeds: dict[str, Feed] = {}
        token = token_for(spaces)
        for url in settings.urls:
            feeds[url] = await read_feed(url, spaces, settings.page_limit, token)
        label = f"{settings.urls[0]} (page size {CHECK_PAGE})"
        feeds[label] = await read_feed(settings.urls[0], spaces, CHECK_PAGE, token)
        wanted = set(spaces)
        part_views = [ClientView(v.client_id, [s for s in v.spaces if s in wanted], v.store)
                      for v in views if wanted.intersection(v.spaces)]
        verdict.merge(check(recorder, feeds, part_views, spaces, whole_run=False))
        results += len(recorder.results)
        del feeds, recorder, part_views
    verdict.counts["clients_checked"] = len(views)
    if journal.audit is None:
        verdict.warn("audit_unavailable", detail="the conflicts audit was not read")
    if not results:
        verdict.add("nothing_checked", detail="no mutation was acknowledged: nothing to verify")
    return verdict


def install_loop(choice: str) -> None:
    if choice == "asyncio":
        return
    try:
        import uvloop  # optional: a cheaper event loop leaves more CPU to the server
    except ImportError:
        if choice == "uvloop":
            raise
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["webpush"]:  # a command of its own (load/webpush.py), not a scenario
        from load import webpush
        return webpush.main(given[1:])
    if given[:1] == ["vs"]:  # a comparison with another server (load/vs/cli.py)
        from load.vs import cli as vs
        return vs.main(given[1:])
    if given[:1] == ["idle"]:  # idle WebSockets and their memory (load/idle.py)
        from load import idle
        return idle.main(given[1:])
    if given[:1] == ["validators"]:  # what validating a record costs (load/validators.py)
        from load import validators
        return validators.main(given[1:])
    console = Console(stderr=True, soft_wrap=True)
    settings, args = parse_args(argv)
    problem = validate(settings, args)
    if problem:
        console.print(f"[red]error:[/red] {escape(problem)}")  # one line, no markup
        return 2
    install_loop(args.loop)
    if settings.seed is None:
        # drawn here, not left to chance inside the run, so that the report can name it
        settings.seed = random.SystemRandom().randrange(1 << 31)
    out = args.out or Path(f"load-report-{settings.scenario}-{time.strftime('%Y%m%d-%H%M%S')}")
    server_pid: int | list[int] | None = args.server_pid or None
    with contextlib.ExitStack() as stack:
        if args.spawn:
            try:
                server_args, env = spawn_auth(shlex.split(args.server_args), settings)
                server = stack.enter_context(SpawnedServer(server_args, env=env))
            except RuntimeError as exc:
                console.print(f"[red]error:[/red] {exc}")
                return 2
            settings.urls = [server.url]
            server_pid = server.proc.pid if server.proc else None
        try:
            stats, verdict, info = asyncio.run(execute(settings, not args.no_progress, server_pid))
        except (HttpError, OSError) as exc:
            console.print(f"[red]error:[/red] cannot load {settings.urls}: {exc}")
            return 2
        # the whole run, setup to check, measured before a spawned server exits
        cpu = stats.extra["cpu"]
        cpu["whole_run"] = cpu_split(cpu.pop("start"), cpu_sample(server_pid))
        cpu["server"] = ("spawned: /proc/PID/stat" if args.spawn else
                         "given by --server-pid: /proc/PID/stat" if server_pid else NOT_MEASURED)
        if args.spawn and (stats.errors or verdict is None or not verdict.ok):
            # the spawned server's log disappears with its temporary directory
            stats.extra["server_log_tail"] = server.log_tail(4000)
    target = {
        "kind": "spawned" if args.spawn else "external",
        "urls": settings.urls,
        "server_args": args.server_args if args.spawn else None,
    }
    report = build_report(settings, stats, verdict, info, target)
    json_path, html_path = write_reports(report, stats, out)
    print_summary(console, report)
    console.print(f"reports: {json_path}  {html_path}")
    return 0 if verdict is not None and verdict.ok else 1
