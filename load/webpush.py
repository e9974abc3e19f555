"""``python -m load webpush``: Web Push nudges at scale (docs/load.md, "Web Push").

1. a local push service (load/pushservice.py) in a process of its own makes `--subscriptions`
   browser-like devices; the server (`--spawn`: Web Push on with a fresh VAPID key, loopback
   endpoints allowed, auth on with minted tokens) registers each of them for one user: the
   first `--members` follow the big space, the others idle spaces of `--per-space` devices.
   None is connected live: all are offline, so every change is a nudge to each of them;
2. `--others` clients, in a process of their own, push one small mutation every
   `--push-every` s into spaces of their own, alone for `--baseline` s, then through
   3. `--changes` writes in the big space by its first member, one at a time: each must
   reach every other member's device exactly once, with that change's head, and none
   the writer's; the next is written once the last nudge of one arrived;
4. the verdict: the counts exact, the push service's requests in flight within
   `--max-in-flight`, the queue depth (/metrics) within `--max-queue-depth`, the server's
   resident memory growth within `--max-rss-growth-mb`, each burst within `--max-burst-s`,
   and the others' push p99 during the bursts within `--max-p99-ms` (or `--max-p99-ratio`
   times their p99 before, when more).

Exit status 0 clean, 1 a bound or a count failed, 2 bad usage. Loopback only; every wait is
bounded, so the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from load.auth import mint_token
from load.hlc import HLC
from load.hostile import Pusher, p99_bound_ms, percentile
from load.http import HttpConnection
from load.machine import cpu_sample, cpu_split, machine_info
from load.memory import _status_mb
from load.pushservice import PushServiceProcess
from load.spawn import SpawnedServer
from load.targets import url_problem

MAX_SUBSCRIPTIONS = 100_000
REGISTER_CONNECTIONS = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load webpush", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spawn", action="store_true", help="start a throw-away server")
    p.add_argument("--url", help="a server of your own (loopback), started with Web Push on, "
                   "SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK=1 and --token-secret's secret")
    p.add_argument("--server-pid", type=int, help="with --url: its pid, to read its memory")
    p.add_argument("--token-secret", help="with --url: the server's SYNCSERVER_JWT_SECRET")
    p.add_argument("--server-args", default="", help="with --spawn: extra serve options")
    p.add_argument("--subscriptions", type=int, default=10_000,
                   help=f"devices registered in all (at most {MAX_SUBSCRIPTIONS:,})")
    p.add_argument("--members", type=int, default=1000,
                   help="devices (one per user) following the big space")
    p.add_argument("--per-space", type=int, default=10,
                   help="devices per idle space (the subscriptions beyond --members)")
    p.add_argument("--changes", type=int, default=3, help="writes in the big space")
    p.add_argument("--gap", type=float, default=2.0, help="seconds between two bursts")
    p.add_argument("--others", type=int, default=4, help="clients pushing meanwhile")
    p.add_argument("--push-every", type=float, default=0.05,
                   help="seconds between two pushes of one other client")
    p.add_argument("--baseline", type=float, default=5.0,
                   help="seconds the others push before the first change")
    p.add_argument("--senders", type=int, default=8,
                   help="with --spawn: SYNCSERVER_WEBPUSH_SENDERS")
    p.add_argument("--queue", type=int, default=10_000,
                   help="with --spawn: SYNCSERVER_WEBPUSH_QUEUE")
    p.add_argument("--service-latency-ms", type=float, default=50.0,
                   help="the push service answers each push after this long (a network "
                   "round trip)")
    p.add_argument("--max-in-flight", type=int,
                   help="bound on requests in flight at the push service (default --senders)")
    p.add_argument("--max-queue-depth", type=int,
                   help="bound on syncserver_webpush_queue_depth (default --queue)")
    p.add_argument("--max-rss-growth-mb", type=float, default=100.0)
    p.add_argument("--max-burst-s", type=float, default=60.0,
                   help="bound on commit-to-last-nudge of each change (also its timeout)")
    p.add_argument("--max-p99-ms", type=float, default=100.0)
    p.add_argument("--max-p99-ratio", type=float, default=5.0)
    p.add_argument("--out", type=Path, help="report directory (default "
                   "load-report-webpush-TIME)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.spawn == bool(args.url):
        p.error("give --spawn or --url")
    if args.url:
        problem = url_problem(args.url, False)
        if problem:
            p.error(problem)
        if not args.token_secret:
            p.error("--url needs --token-secret (the server's SYNCSERVER_JWT_SECRET)")
    if not 2 <= args.members <= args.subscriptions <= MAX_SUBSCRIPTIONS:
        p.error(f"need 2 <= --members <= --subscriptions <= {MAX_SUBSCRIPTIONS:,}")
    if not 1 <= args.changes <= 100 or not 0 <= args.others <= 100 or args.per_space < 1:
        p.error("--changes 1..100, --others 0..100, --per-space at least 1")
    args.max_in_flight = args.max_in_flight or args.senders
    args.max_queue_depth = args.max_queue_depth or args.queue
    return args


# -- the other clients, in a process of their own ----------------------------------------

def _others_main(url: str, runs: list[tuple[str, str]], every: float, pipe: Connection
                 ) -> None:
    """Each (run, token): a client pushing into its own space on one keep-alive connection
    (load/hostile.py's Pusher); reports every push as (sent at, seconds)."""
    async def go() -> tuple[list[tuple[float, float]], list[tuple[float, str]]]:
        pushers = [Pusher(url, run, token) for run, token in runs]
        for pusher in pushers:
            for _ in range(3):
                await pusher.push({"warm": True})
        stop = asyncio.Event()
        told = asyncio.ensure_future(asyncio.to_thread(pipe.recv))
        told.add_done_callback(lambda _: stop.set())
        pipe.send("ready")
        await asyncio.gather(*(pusher.run(stop, every) for pusher in pushers))
        for pusher in pushers:
            await pusher.http.close()
        return ([x for p in pushers for x in p.latencies],
                [x for p in pushers for x in p.failures])

    pipe.send(asyncio.run(go()))


# -- the server's side --------------------------------------------------------------------

async def webpush_metrics(http: HttpConnection) -> dict[str, float]:
    answer = await http.request("GET", "/metrics")
    found: dict[str, float] = {}
    if answer is None or answer.status != 200:
        return found
    for line in answer.body.decode().splitlines():
        if line.startswith("syncserver_webpush_") and "_created" not in line:
            name, _, value = line.rpartition(" ")
            found[name] = found.get(name, 0.0) + float(value)
    return found


class Run:
    def __init__(self, args: argparse.Namespace, url: str, pid: int | None, secret: str,
                 service: PushServiceProcess) -> None:
        self.args, self.url, self.pid, self.secret = args, url, pid, secret
        self.service = service
        self.run = "wp-" + uuid.uuid4().hex[:8]
        self.big = f"{self.run}-big"
        self.received: list[list[Any]] = []  # as the push service reports them
        self.service_stats: dict[str, Any] = {}
        self.rss: list[tuple[float, float]] = []
        self.depth: list[tuple[float, float]] = []
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.args.no_progress:
            print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.started:5.1f}s] "
                  f"{text}", file=sys.stderr, flush=True)

    def space_of(self, n: int) -> str:
        if n < self.args.members:
            return self.big
        return f"{self.run}-i{(n - self.args.members) // self.args.per_space}"

    def client_id(self, n: int) -> str:
        return f"{self.run}-d{n}"

    def token(self, n: int) -> str:
        return mint_token(self.secret, f"{self.run}-u{n}", {self.space_of(n): "rw"})

    async def register(self) -> None:
        http = HttpConnection(self.service.url, timeout=60)
        answer = await http.request("GET", "/subscriptions")
        await http.close()
        assert answer is not None and answer.status == 200
        devices = orjson.loads(answer.body)
        numbers = iter(range(len(devices)))
        done = 0

        async def one_connection() -> None:
            nonlocal done
            conn = HttpConnection(self.url, timeout=60)
            for n in numbers:
                conn.set_token(self.token(n))
                body = orjson.dumps({"client_id": self.client_id(n),
                                     "subscription": devices[n], "spaces": [self.space_of(n)]})
                reply = await conn.request("POST", "/v1/webpush/subscriptions", body)
                if reply is None or reply.status not in (200, 201):
                    raise SystemExit(f"registration {n} failed: "
                                     f"{reply.status if reply else None} "
                                     f"{reply.body[:300]!r}" if reply else "no answer")
                done += 1
                if done % 2000 == 0:
                    self.say(f"registered {done:,} / {len(devices):,} subscriptions")
            await conn.close()

        await asyncio.gather(*(one_connection() for _ in range(REGISTER_CONNECTIONS)))

    async def poll(self, service: HttpConnection, server: HttpConnection) -> None:
        answer = await service.request("GET", f"/received?since={len(self.received)}")
        if answer is not None and answer.status == 200:
            stats = orjson.loads(answer.body)
            self.received.extend(stats.pop("received"))
            self.service_stats = stats
        now = time.monotonic()
        rss = _status_mb(self.pid, "VmRSS") if self.pid else None
        if rss is not None:
            self.rss.append((now, rss))
        depth = (await webpush_metrics(server)).get("syncserver_webpush_queue_depth")
        if depth is not None:
            self.depth.append((now, depth))

    async def change(self, number: int, writer: HttpConnection, clock: HLC,
                     service: HttpConnection, server: HttpConnection) -> dict[str, Any]:
        """One write in the big space by member 0, then wait for its nudges."""
        expected = self.args.members - 1
        body = orjson.dumps({"client_id": self.client_id(0), "protocol": 2, "mutations": [{
            "mid": number, "space": self.big, "collection": "notes", "id": f"c{number}",
            "op": "put", "base_version": 0, "hlc": clock.stamp(), "data": {"n": number}}]})
        sent = time.monotonic()
        answer = await writer.request("POST", "/v1/push", body)
        committed = time.monotonic()
        if answer is None or answer.status != 200:
            raise SystemExit(f"the change was refused: {answer.status if answer else None}")
        head = orjson.loads(answer.body)["results"][0]["seq"]
        deadline = sent + self.args.max_burst_s
        start = len(self.received)
        last_said = 0.0
        while True:
            await self.poll(service, server)
            mine = [r for r in self.received[start:] if r[1] == self.big and r[2] == head]
            if len(mine) >= expected or time.monotonic() > deadline:
                break
            if time.monotonic() - last_said >= 1:
                last_said = time.monotonic()
                self.say(f"change {number}: {len(mine):,} / {expected:,} nudges, queue "
                         f"{self.depth[-1][1] if self.depth else '?'}, server "
                         f"{self.rss[-1][1] if self.rss else '?'} MB")
            await asyncio.sleep(0.05)
        last = max((r[3] for r in mine), default=committed)
        self.say(f"change {number} (head {head}): {len(mine):,} nudges in "
                 f"{last - committed:.2f} s")
        return {"head": head, "sent": sent, "committed": committed, "last_nudge": last,
                "nudges": len(mine), "commit_to_last_nudge_s": round(last - committed, 3)}

    async def go(self) -> dict[str, Any]:
        args = self.args
        self.say(f"registering {args.subscriptions:,} subscriptions ({args.members:,} in "
                 f"{self.big})")
        t0 = time.monotonic()
        await self.register()
        register_s = time.monotonic() - t0
        self.say(f"registered in {register_s:.1f} s; {args.others} other clients push every "
                 f"{args.push_every} s, {args.baseline} s alone first")
        pipe, child = multiprocessing.Pipe()
        runs = [(f"{self.run}-o{i}", mint_token(self.secret, f"{self.run}-o{i}-ok",
                                                {f"{self.run}-o{i}-ok": "rw"}))
                for i in range(args.others)]
        others = multiprocessing.get_context("spawn").Process(
            target=_others_main, args=(self.url, runs, args.push_every, child), daemon=True)
        if args.others:
            others.start()
            if not await asyncio.to_thread(pipe.poll, 60) or pipe.recv() != "ready":
                raise SystemExit("the other clients did not start")
        service = HttpConnection(self.service.url, timeout=30)
        server = HttpConnection(self.url, timeout=30)
        writer = HttpConnection(self.url, token=self.token(0), timeout=60)
        clock = HLC(self.client_id(0))
        baseline_start = time.monotonic()
        while time.monotonic() < baseline_start + args.baseline:
            await self.poll(service, server)
            await asyncio.sleep(0.1)
        rss_before = self.rss[-1][1] if self.rss else None
        cpu_before = cpu_sample(self.pid)
        changes = []
        for number in range(1, args.changes + 1):
            changes.append(await self.change(number, writer, clock, service, server))
            gap_end = time.monotonic() + (args.gap if number < args.changes else 1.0)
            while time.monotonic() < gap_end:  # late or duplicate nudges show here
                await self.poll(service, server)
                await asyncio.sleep(0.1)
        cpu = cpu_split(cpu_before, cpu_sample(self.pid))
        if args.others:
            pipe.send("stop")
            latencies, failures = await asyncio.to_thread(pipe.recv)
            others.join(10)
        else:
            latencies, failures = [], []
        final = await webpush_metrics(server)
        for conn in (service, server, writer):
            await conn.close()
        return self.result(changes, latencies, failures, baseline_start, rss_before, final,
                           register_s, cpu)

    def result(self, changes: list[dict[str, Any]], latencies: list[tuple[float, float]],
               failures: list[tuple[float, str]], baseline_start: float,
               rss_before: float | None, final: dict[str, float], register_s: float,
               cpu: dict[str, Any]) -> dict[str, Any]:
        args = self.args
        heads = {c["head"] for c in changes}
        expected = set(range(1, args.members))
        per_change = []
        for c in changes:
            got = Counter(r[0] for r in self.received if r[1] == self.big and r[2] == c["head"])
            per_change.append({
                "head": c["head"], "nudges": sum(got.values()), "devices": len(got),
                "missing": len(expected - set(got)),
                "twice": sum(1 for n in got.values() if n > 1),
                "writer": got.get(0, 0), "not_members": len(set(got) - expected - {0}),
                "commit_to_last_nudge_s": c["commit_to_last_nudge_s"]})
        stray = [r for r in self.received if r[1] != self.big or r[2] not in heads]
        problems = Counter(r[4].split(":")[0] for r in self.received if r[4])
        first, last = changes[0]["sent"], max(c["last_nudge"] for c in changes)
        windows = [(c["sent"], c["last_nudge"]) for c in changes]
        before = sorted(s for at, s in latencies if baseline_start <= at < first)
        during = sorted(s for at, s in latencies if any(a <= at <= b for a, b in windows))
        seconds = Counter(int(r[3] - first) for r in self.received)
        burst_rss = [mb for at, mb in self.rss if first <= at <= last + 1]
        p99_before = round(percentile(before, 99) * 1000, 1) if before else None
        return {
            "run": self.run, "subscriptions": args.subscriptions, "members": args.members,
            "offline_members": args.members, "expected_per_change": args.members - 1,
            "changes": per_change, "nudges_total": len(self.received),
            "nudges_expected_total": (args.members - 1) * len(changes),
            "stray_nudges": len(stray), "service_problems": dict(problems),
            "nudges_per_s": {"peak": max(seconds.values(), default=0),
                             "by_second": [seconds.get(s, 0) for s in range(
                                 max(seconds, default=-1) + 1)]},
            "commit_to_last_nudge_s": max(c["commit_to_last_nudge_s"] for c in changes),
            "service_max_in_flight": self.service_stats.get("max_in_flight"),
            "service_connections": self.service_stats.get("connections"),
            "queue_depth_max": max((d for _, d in self.depth), default=None),
            "server_rss_before_mb": rss_before,
            "server_rss_max_during_mb": max(burst_rss, default=None),
            "server_rss_growth_mb": (round(max(burst_rss) - rss_before, 1)
                                     if burst_rss and rss_before is not None else None),
            "server_peak_rss_mb": _status_mb(self.pid, "VmHWM") if self.pid else None,
            "server_metrics": final,
            "others": {"clients": args.others, "pushes_before": len(before),
                       "pushes_during": len(during), "failures": len(failures),
                       "p50_before_ms": round(percentile(before, 50) * 1000, 1) if before
                       else None, "p99_before_ms": p99_before,
                       "p50_during_ms": round(percentile(during, 50) * 1000, 1) if during
                       else None,
                       "p99_during_ms": round(percentile(during, 99) * 1000, 1) if during
                       else None,
                       "max_during_ms": round(during[-1] * 1000, 1) if during else None,
                       "p99_bound_ms": p99_bound_ms(p99_before, args)},
            "register_s": round(register_s, 1), "cpu_bursts": cpu,
        }


def verdict(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    problems = []
    for c in result["changes"]:
        if c["missing"] or c["twice"] or c["writer"] or c["not_members"]:
            problems.append(f"change at head {c['head']}: {c['missing']} devices missed, "
                            f"{c['twice']} nudged twice, {c['writer']} to the writer, "
                            f"{c['not_members']} to non-members")
    if result["stray_nudges"]:
        problems.append(f"{result['stray_nudges']} nudges for no change of the run")
    if result["service_problems"]:
        problems.append(f"pushes the push service refused: {result['service_problems']}")
    bounds = [("service_max_in_flight", args.max_in_flight, "requests in flight"),
              ("queue_depth_max", args.max_queue_depth, "queue depth"),
              ("server_rss_growth_mb", args.max_rss_growth_mb, "server RSS growth (MB)"),
              ("commit_to_last_nudge_s", args.max_burst_s, "commit to last nudge (s)")]
    for name, bound, what in bounds:
        value = result[name]
        if value is not None and value > bound:
            problems.append(f"{what} {value} > {bound}")
    others = result["others"]
    if args.others:
        if others["failures"]:
            problems.append(f"{others['failures']} pushes of the other clients failed")
        if others["p99_bound_ms"] is None or others["p99_during_ms"] is None:
            problems.append("no push of the other clients before or during the bursts")
        elif others["p99_during_ms"] > others["p99_bound_ms"]:
            problems.append(f"other clients' push p99 during the bursts "
                            f"{others['p99_during_ms']} ms > {others['p99_bound_ms']} ms")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y%m%d-%H%M%S")
    machine = machine_info()
    with contextlib.ExitStack() as stack:
        say: Callable[[str], None] = (lambda text: None) if args.no_progress else \
            (lambda text: print(text, file=sys.stderr, flush=True))
        say(f"starting the local push service ({args.subscriptions:,} devices)")
        service = stack.enter_context(PushServiceProcess(
            args.subscriptions, args.service_latency_ms / 1000))
        url, pid, secret = args.url, args.server_pid, args.token_secret
        if args.spawn:
            from syncserver.webpush.vapid import generate
            secret = secrets.token_urlsafe(32)
            env = {"SYNCSERVER_JWT_SECRET": secret,
                   "SYNCSERVER_WEBPUSH_VAPID_KEY": generate()[0],
                   "SYNCSERVER_WEBPUSH_SUBJECT": "mailto:load@example.com",
                   "SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK": "1",
                   "SYNCSERVER_WEBPUSH_MIN_INTERVAL": "0",
                   "SYNCSERVER_WEBPUSH_SENDERS": str(args.senders),
                   "SYNCSERVER_WEBPUSH_QUEUE": str(args.queue)}
            server = stack.enter_context(SpawnedServer(
                ["--auth", "jwt", "--rate-limit", "0", "--no-demo",
                 *args.server_args.split()], env=env))
            url, pid = server.url, server.proc.pid if server.proc else None
        timeout = 600 + args.changes * (args.max_burst_s + args.gap) + args.baseline
        result = asyncio.run(asyncio.wait_for(
            Run(args, url, pid, secret, service).go(), timeout))
    problems = verdict(result, args)
    report = {"scenario": "webpush", "settings": {k: str(v) if isinstance(v, Path) else v
                                                  for k, v in vars(args).items()
                                                  if k != "token_secret"},
              "machine": machine, "results": result, "problems": problems,
              "verdict": "anomalies" if problems else "clean"}
    out = args.out or Path(f"load-report-webpush-{started}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    summary = {k: v for k, v in result.items() if k not in ("nudges_per_s", "server_metrics")}
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    print(f"verdict: {report['verdict']} ({out / 'report.json'})", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
