"""``python -m load idle``: N idle WebSockets, each authenticated and subscribed, held open;
the server's resident memory per connection (docs/load.md, "Idle connections").

1. the server (`--spawn`: auth on with a fresh secret, its connection caps raised to N for
   this run only, printed) settles and its resident set is read: *before*;
2. the sockets open in `--procs` processes of cheap receivers (load/receivers.py), from the
   source addresses 127.0.0.2, .3, ... (one address has ~28,000 ephemeral ports), each
   with a hello carrying a token of its own user and a subscription to one of `--spaces`
   spaces (from the empty cursor: they are caught up, nothing is written meanwhile);
3. all synced, held `--hold` seconds (the receivers answer the server's pings), the
   server's resident set read again: *held*; (held - before) / N is the figure, and the
   kernel's TCP buffer pages (/proc/net/sockstat, both ends of every socket) beside it;
4. the sockets close; the resident set once more: what the server gave back.

A process here may hold at most its hard limit of file descriptors (`ulimit -Hn`): the
server's sockets are bounded by it, the tool's by `--procs` times it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import resource
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from load.machine import machine_info
from load.memory import _status_mb
from load.receivers import ReceiverProcesses
from load.spawn import SpawnedServer
from load.targets import url_problem

PER_PROCESS = 10_000  # sockets per receiver process by default (under its fd limit)
SETTLE_S = 2.0  # before each reading of the resident set
# `syncserver serve`'s caps that N idle sockets meet (docs/configuration.md)
CAPS = {"--max-connections": 10_000, "--max-subscriptions": 20_000}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load idle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=5_000, help="idle WebSockets held")
    p.add_argument("--spawn", action="store_true", help="start a throw-away server")
    p.add_argument("--url", help="a server of your own (loopback)")
    p.add_argument("--server-pid", type=int, help="with --url: its pid, to read its memory")
    p.add_argument("--token-secret", help="with --url and --auth jwt: its SYNCSERVER_JWT_SECRET "
                   "(without: the sockets send a hello without a token, for --auth none)")
    p.add_argument("--server-args", default="", help="with --spawn: extra serve options")
    p.add_argument("--procs", type=int, default=0,
                   help=f"receiver processes (0: one per {PER_PROCESS:,} sockets)")
    p.add_argument("--spaces", type=int, default=100, help="spaces the subscriptions spread over")
    p.add_argument("--hold", type=float, default=5.0, help="seconds held before the reading")
    p.add_argument("--out", type=Path, help="report directory (default load-report-idle-TIME)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.spawn == bool(args.url):
        p.error("give one of --spawn or --url")
    if args.url and (problem := url_problem(args.url, allow_remote=False)):
        p.error(problem)
    if args.connections < 1:
        p.error("--connections must be at least 1")
    return args


def caps_for(connections: int, server_args: list[str]) -> list[str]:
    """The serve options that let `connections` sockets in, each with one subscription,
    for this run (not given in --server-args already)."""
    named = {arg.split("=", 1)[0] for arg in server_args}
    extra: list[str] = []
    for option, default in CAPS.items():
        if connections > default and option not in named:
            extra += [option, str(connections)]
    return extra


def tcp_kernel_mb() -> float | None:
    """Pages the kernel holds for TCP buffers, all sockets of the machine (sockstat)."""
    try:
        for line in Path("/proc/net/sockstat").read_text().splitlines():
            if line.startswith("TCP:"):
                fields = line.split()
                return round(int(fields[fields.index("mem") + 1]) * 4096 / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


class Run:
    def __init__(self, args: argparse.Namespace, url: str, pid: int | None,
                 secret: str | None) -> None:
        self.args, self.url, self.pid, self.secret = args, url, pid, secret
        self.space = "idle-" + uuid.uuid4().hex[:8]

    def say(self, text: str) -> None:
        if not self.args.no_progress:
            print(text, file=sys.stderr, flush=True)

    async def rss(self) -> float | None:
        await asyncio.sleep(SETTLE_S)
        return _status_mb(self.pid, "VmRSS") if self.pid else None

    async def go(self) -> dict[str, Any]:
        n = self.args.connections
        procs = self.args.procs or math.ceil(n / PER_PROCESS)
        shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        before, kernel_before = await self.rss(), tcp_kernel_mb()
        receivers = ReceiverProcesses()
        self.say(f"opening {n:,} WebSockets in {procs} processes (hello, subscribe, synced)")
        started = time.monotonic()
        try:
            opened = await receivers.start(self.url, shares, self.space, spaces=self.args.spaces,
                                           token_secret=self.secret)
            open_s = time.monotonic() - started
            self.say(f"{opened:,} open and synced in {open_s:.1f} s; holding "
                     f"{self.args.hold:.0f} s")
            await asyncio.sleep(self.args.hold)
            held, kernel_held = await self.rss(), tcp_kernel_mb()
            counted = await receivers.stop()
        finally:
            receivers.kill()
        after = await self.rss()
        per = None if before is None or held is None else (held - before) * 2**20 / opened
        return {
            "connections": opened, "receiver_processes": procs, "spaces": self.args.spaces,
            "open_s": round(open_s, 2),
            "server_rss_mb_before": before, "server_rss_mb_held": held,
            "server_rss_mb_after_close": after,
            "server_bytes_per_connection": None if per is None else round(per),
            "tcp_kernel_mb_before": kernel_before, "tcp_kernel_mb_held": kernel_held,
            "frames_while_held": counted["frames"],
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y%m%d-%H%M%S")
    machine = machine_info()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    caps: list[str] = []
    with contextlib.ExitStack() as stack:
        url, pid, secret = args.url, args.server_pid, args.token_secret
        if args.spawn:
            secret = secrets.token_urlsafe(32)
            server_args = args.server_args.split()
            caps = caps_for(args.connections, server_args)
            if caps:
                print(f"for this run: {' '.join(caps)}", file=sys.stderr)
            server = stack.enter_context(SpawnedServer(
                ["--auth", "jwt", "--rate-limit", "0", "--no-demo", *caps, *server_args],
                env={"SYNCSERVER_JWT_SECRET": secret}))
            url, pid = server.url, server.proc.pid if server.proc else None
        result = asyncio.run(asyncio.wait_for(Run(args, url, pid, secret).go(), 900))
    report = {"scenario": "idle",
              "settings": {k: str(v) if isinstance(v, Path) else v
                           for k, v in vars(args).items() if k != "token_secret"},
              "server_caps_raised": caps, "fd_limit": {"soft": soft, "hard": hard},
              "machine": machine, "results": result}
    out = args.out or Path(f"load-report-idle-{started}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"report: {out / 'report.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
