"""``python -m load.pg_instances``: the multi-instance benchmarks of docs/benchmarks.md.

For each instance count (``--instances 1,3``) and each run, on a new PostgreSQL database:
start that many ``syncserver serve`` processes, run one ``python -m load`` scenario with a
``--url`` per instance (clients spread round-robin), and print its rate beside the CPU
spent per unit by the instances (summed, measured by the load tool over its load phase),
by the database's PostgreSQL backends (sampled here, cut to the same window) and by the
load tool, with the load average. The machine is shared: CPU per unit repeats where the
rates do not.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import sql

from load.machine import process_cpu_seconds
from load.spawn import free_port

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PUSH = ("steady --batch-size 500 --record-size 200 --pull-every 0 --ws-ratio 0 "
        "--patch-share 0 --delete-share 0 --duration 10")
# a run's `python -m load` arguments for n instances
RUNS: dict[str, Callable[[int], str]] = {
    # writers spread over many spaces: 4 clients per instance, a space each
    "push": lambda n: f"{PUSH} --clients {4 * n} --spaces {4 * n}",
    # one reader per instance, each following the 100,000-record space from zero
    "feed": lambda n: (f"initial-sync --records 100000 --batch-size 500 --readers {n} "
                       "--duration 120"),
    # 1,000 WebSockets spread over the instances; writers too (cross-instance latency)
    "fanout": lambda n: "fanout --subscribers 1000 --writers 4 --rate 25 --duration 15",
}


class Sample(NamedTuple):
    when: float  # time.monotonic()
    instances: float  # CPU seconds of the instances so far
    postgres: float  # CPU seconds of the database's backends so far


class Sampler:
    """CPU seconds of the instances and of the PostgreSQL backends serving one database,
    sampled every 0.2 s (pooled connections open as they are needed) into a timeline."""

    def __init__(self, admin: str, dbname: str, pids: list[int]) -> None:
        self.admin, self.dbname, self.pids = admin, dbname, pids
        self.last: dict[int, float] = {}
        self.total = 0.0
        self.timeline: list[Sample] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self.stop.is_set():
                pids = [pid for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,))]
                for pid in pids:
                    now = process_cpu_seconds(pid)
                    if now is not None:
                        self.total += now - self.last.get(pid, now if pid in self.last else 0.0)
                        self.last[pid] = now
                mine = sum(process_cpu_seconds(pid) or 0.0 for pid in self.pids)
                self.timeline.append(Sample(time.monotonic(), mine, self.total))
                self.stop.wait(0.2)

    def between(self, start: float, end: float) -> tuple[float, float]:
        """CPU seconds of (the instances, the backends) from start to end."""
        def at(t: float) -> tuple[float, float]:
            before = [s for s in self.timeline if s.when <= t]
            sample = before[-1] if before else self.timeline[0]
            return sample.instances, sample.postgres
        (a0, b0), (a1, b1) = at(start), at(end)
        return a1 - a0, b1 - b0


@contextmanager
def database(admin: str) -> Iterator[str]:
    name = f"syncserver_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def url_of(conninfo: str) -> str:
    d = psycopg.conninfo.conninfo_to_dict(conninfo)
    who = f"{d.get('user')}@" if d.get("user") else ""
    return f"postgresql://{who}{d.get('host', '127.0.0.1')}:{d.get('port', 5432)}/{d['dbname']}"


@contextmanager
def instances(db: str, n: int, folder: Path, extra: list[str]) -> Iterator[list[Any]]:
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for i in range(n):
            port = free_port()
            log = open(folder / f"instance{i}.log", "wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncserver", "serve", "--db", db, "--port", str(port),
                 "--auth", "none", "--no-demo", *extra], stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            procs.append((proc, url))
            deadline = time.monotonic() + 60
            while True:  # one at a time: the first migrates, the others find it done
                if proc.poll() is not None:
                    raise RuntimeError((folder / f"instance{i}.log").read_text()[-2000:])
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"instance {i} did not start") from None
                    time.sleep(0.1)
        yield procs
    finally:
        for proc, _ in procs:  # each by its own pid
            proc.terminate()
        for proc, _ in procs:
            proc.wait(20)


def run(name: str, n: int, admin: str, folder: Path, extra: list[str]) -> dict[str, Any]:
    with database(admin) as conninfo, instances(url_of(conninfo), n, folder, extra) as procs:
        dbname = str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])
        backends = Sampler(admin, dbname, [proc.pid for proc, _ in procs])
        backends.thread.start()
        out = folder / f"{name}-{n}"
        args = [arg for proc, url in procs for arg in
                ("--url", url, "--server-pid", str(proc.pid))]
        load_before = os.getloadavg()[0]
        status = subprocess.run(
            [sys.executable, "-m", "load", *shlex.split(RUNS[name](n)), *args,
             "--no-progress", "--out", str(out)], stdout=subprocess.DEVNULL).returncode
        backends.stop.set()
        backends.thread.join()
    report = orjson.loads((out / "report.json").read_bytes())
    results = report["results"]
    phase = results["cpu"]["load_phase"]
    totals = results["totals_load_phase"]
    if name == "feed":  # the readers' window only, not the seeding writes before it
        feed = results["extra"]["changefeed"] if "extra" in results else results["changefeed"]
        start, end = feed["monotonic"]
        units, rate = feed["readers"] * feed["records"], feed["changes_per_s"]
    else:
        start, end = phase["monotonic"]
        units = totals.get("mutations" if name == "push" else "deliveries", 0)
        rate = results["throughput_per_s"].get("mutations" if name == "push" else "deliveries")
    server, postgres = backends.between(start, end)
    wall = end - start
    latency = results.get("latency_ms", {})
    row = {
        "run": name, "instances": n, "status": status,
        "verdict": report["convergence"]["verdict"], "errors": results["errors"],
        "rate_per_s": rate, "units": units, "wall_s": round(wall, 2),
        "server_us": round(1e6 * server / max(units, 1), 2),
        "postgres_us": round(1e6 * postgres / max(units, 1), 2),
        "server_cores": round(server / wall, 2), "postgres_cores": round(postgres / wall, 2),
        "tool_cores": phase["tool_cores"],
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "latency_ms": {k: {q: latency[k][q] for q in ("count", "p50_ms", "p99_ms")}
                       for k in latency if k.startswith("delivery")},
    }
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.pg_instances", description=__doc__)
    p.add_argument("--instances", default="1,3", help="instance counts, comma-separated")
    p.add_argument("--only", default="push,feed,fanout", help="runs, comma-separated")
    p.add_argument("--admin", default=os.environ.get("SYNCSERVER_TEST_PG") or ADMIN,
                   help="a PostgreSQL URL allowed to create databases")
    p.add_argument("--server-args", default="", help="more `syncserver serve` options")
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="syncserver-pg-instances-"))
    for name in args.only.split(","):
        for n in (int(x) for x in args.instances.split(",")):
            row = run(name, n, args.admin, folder, shlex.split(args.server_args))
            print(orjson.dumps(row).decode(), flush=True)
    print(f"reports and logs: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
