"""``python -m load.instructions``: the server's work per mutation and per change served,
counted in CPU instructions by valgrind's callgrind.

Throughput on a shared 2-core machine moves 20-30% between back-to-back runs, and by 2x
between machines; an instruction count is the same on every run, so it shows what a change
to the server did. The server runs under callgrind (about 50x slower), is warmed up, its
counters are zeroed, one workload runs over real HTTP on 127.0.0.1, and the counters are
dumped: everything the server process did for that workload, on all its threads.

Workloads (each against a fresh database):
- ``push-new``: batches of 500 puts of new ~200-byte records;
- ``push-mixed``: batches of 350 new records, 125 merge patches and 25 deletes of records
  of the batch before;
- ``feed``: the changefeed of one space read from cursor zero in pages of 1,000.

``--auth``: the server runs with ``--auth jwt`` (a fresh secret) and every request carries a
bearer token granting the space: the difference from a run without it is what auth costs.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import orjson

from load.auth import WRITE, mint_token
from load.spawn import free_port

WORKLOADS = ("push-new", "push-mixed", "feed")
DATA = {"title": "x" * 120, "done": False, "n": 0, "tags": ["a", "b"]}  # ~200 bytes as JSON


def batches(mixed: bool, count: int, client: str = "bench", data: dict[str, Any] = DATA,
            size: int = 500, space: str = "s0") -> Iterator[bytes]:
    """Push bodies: new records only (`size` a batch, each `data` with its own "n"), or new
    records plus patches and deletes of the records the previous batch created (at version
    1, so each applies)."""
    mid, rid = 0, 0
    previous: list[str] = []
    stamp_ms = int(time.time() * 1000) - 3_600_000
    for number in range(count):
        mutations: list[dict[str, Any]] = []
        created: list[str] = []
        for i in range(350 if mixed and number else size):
            mid, rid = mid + 1, rid + 1
            created.append(f"r{rid}")
            mutations.append({"mid": mid, "space": space, "collection": "todos",
                              "id": f"r{rid}", "op": "put", "base_version": 0,
                              "hlc": f"{stamp_ms + mid:013d}:00000:{client}",
                              "data": {**data, "n": i}})
        for j, target in enumerate(previous[:150] if mixed else []):
            mid += 1
            change: dict[str, Any] = {"mid": mid, "space": space, "collection": "todos",
                                      "id": target, "base_version": 1,
                                      "hlc": f"{stamp_ms + mid:013d}:00000:{client}"}
            if j < 125:
                change.update(op="patch", data={"done": True, "n": j})
            else:
                change["op"] = "delete"
            mutations.append(change)
        previous = created
        yield orjson.dumps({"client_id": client, "mutations": mutations})


def callgrind_control(flag: str, pid: int) -> None:
    """`callgrind_control -z` (zero the counters) or `-d` (dump them) of a process."""
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def latest_dump(workdir: str) -> str:
    """The path of the dump callgrind_control -d wrote last (--callgrind-out-file in workdir
    as callgrind.%p: its dumps are callgrind.PID.N)."""
    dumps = [f for f in os.listdir(workdir) if f.startswith("callgrind.") and f.count(".") == 2]
    return os.path.join(workdir, max(dumps, key=lambda name: int(name.rsplit(".", 1)[1])))


def dump_instructions(path: str) -> int:
    """The instructions a callgrind dump counted."""
    with open(path) as dump:
        for line in dump:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


class Server:
    """`syncserver serve` under callgrind, on a free loopback port and a temporary file."""

    def __init__(self, workdir: str, auth: bool = False) -> None:
        self.workdir = workdir
        env, self.headers = None, {"content-type": "application/json"}
        if auth:
            secret = secrets.token_urlsafe(32)
            env = {**os.environ, "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": secret}
            token = mint_token(secret, "bench", {"s0": WRITE}, ttl=24 * 3600)
            self.headers["authorization"] = f"Bearer {token}"
        self.port = free_port()
        command = ["valgrind", "--tool=callgrind",
                   f"--callgrind-out-file={workdir}/callgrind.%p",
                   sys.executable, "-m", "syncserver", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--db", f"{workdir}/bench.db",
                   *([] if auth else ["--auth", "none"])]
        self.log = open(f"{workdir}/server.log", "wb")  # closed in stop
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        # Under callgrind the start takes about a minute on a quiet machine; on a shared one
        # (load average 10 on 2 cores) it took over 5.
        deadline = time.monotonic() + 1800
        while True:
            try:
                self.request("GET", "/healthz")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"the server did not start: see {workdir}/server.log") from None
                time.sleep(1)
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        self.conn.request(method, path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
        return data

    def control(self, flag: str) -> None:
        callgrind_control(flag, self.proc.pid)

    def dump(self) -> str:
        return latest_dump(self.workdir)

    def instructions(self) -> int:
        """Instructions since the last zeroing, from the dump callgrind_control -d wrote."""
        return dump_instructions(self.dump())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)
        self.log.close()


def measure(workload: str, count: int, say: Any, auth: bool = False,
            keep: str | None = None) -> tuple[int, int]:
    """(instructions, units) for one workload: units are mutations or changes served.
    `keep`: a directory to copy callgrind's dump of the workload into (callgrind_annotate
    reads it: where the instructions went, by C function)."""
    workdir = tempfile.mkdtemp(prefix="syncserver-instructions-")
    try:
        say(f"{workload}: starting the server under callgrind (about a minute)")
        server = Server(workdir, auth)
        try:
            bodies = list(batches(workload == "push-mixed", 5 + count))
            for body in bodies[:5]:  # warm-up: code paths, caches, the first records
                server.request("POST", "/v1/push", body)
            if workload == "feed":
                for body in bodies[5:]:
                    server.request("POST", "/v1/push", body)
            server.control("-z")
            units = 0
            if workload == "feed":
                cursor = ""
                while True:
                    page = orjson.loads(server.request(
                        "GET", f"/v1/changes?space=s0&since={cursor}&limit=1000"))
                    units += len(page["changes"])
                    cursor = page["cursor"]
                    if not page["more"]:
                        break
            else:
                for n, body in enumerate(bodies[5:], 1):
                    results = orjson.loads(server.request("POST", "/v1/push", body))["results"]
                    odd = [r for r in results if r["status"] != "applied"]
                    if odd:
                        raise SystemExit(f"{workload}: a mutation was not applied: {odd[0]}")
                    units += len(results)
                    say(f"{workload}: batch {n} of {count}")
            server.control("-d")
            if keep is not None:
                os.makedirs(keep, exist_ok=True)
                shutil.copy(server.dump(), os.path.join(keep, f"callgrind.{workload}"))
            return server.instructions(), units
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"any of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--batches", type=int, default=20,
                        help="batches of 500 to push (or to read back, for feed)")
    parser.add_argument("--auth", action="store_true",
                        help="the server runs --auth jwt; requests carry a bearer token")
    parser.add_argument("--keep", metavar="DIR",
                        help="copy each workload's callgrind dump to DIR/callgrind.WORKLOAD "
                        "(for callgrind_annotate --inclusive=yes)")
    args = parser.parse_args(argv)
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload {', '.join(sorted(unknown))}: pick from "
                     f"{', '.join(WORKLOADS)}")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(f"  .. {text}", file=sys.stderr, flush=True)

    print("| workload | instructions per unit | units |\n|---|---|---|")
    for workload in args.workloads or WORKLOADS:
        instructions, units = measure(workload, args.batches, say, args.auth,
                                     args.keep)
        unit = "change served" if workload == "feed" else "mutation"
        print(f"| {workload} | {instructions / units:,.0f} per {unit} | {units:,} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
