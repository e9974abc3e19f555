"""``python -m load.pg_instances``: the multi-instance benchmarks of docs/benchmarks.md.

For each instance count (``--instances 1,3``) and each run, on a new PostgreSQL database:
start that many ``syncserver serve`` processes, run one ``python -m load`` scenario with a
``--url`` per instance (clients spread round-robin), and print its rate beside the CPU
used by each instance, by the database's PostgreSQL backends and by the load tool (sampled
here every 0.2 s, cut to the tool's measured window), with the load average. The machine is
shared: CPU per unit repeats where the rates do not.

``--cpu-quota 0.2`` holds each instance to 0.2 CPU with a cgroup of its own (load/cpu_quota.py)
so that scale-out shows on a 2-core machine; the table then says how often each instance was
throttled.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import sql

from load.cpu_quota import CgroupUnavailable, CpuQuotas, QuotaGroup, probe
from load.pg_sampler import Sampler
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


UNITS = {"push": "mutations", "feed": "changes", "fanout": "deliveries"}


class Instance(NamedTuple):
    proc: subprocess.Popen[bytes]
    url: str
    group: QuotaGroup | None  # its cgroup under --cpu-quota


def say(message: str) -> None:
    """Progress, on stderr: stdout keeps the results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def instances(db: str, n: int, folder: Path, extra: list[str],
              quotas: CpuQuotas | None) -> Iterator[list[Instance]]:
    started: list[Instance] = []
    try:
        for i in range(n):
            port = free_port()
            log = open(folder / f"instance{i}.log", "wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncserver", "serve", "--db", db, "--port", str(port),
                 "--auth", "none", "--no-demo", *extra], stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            started.append(Instance(proc, url, None))
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
            # confined once started: startup (imports, migrations) runs at full speed, the
            # load at the quota; the threads it starts later stay in its group
            group = quotas.confine(proc.pid) if quotas else None
            started[-1] = Instance(proc, url, group)
            say(f"  instance {i + 1}/{n} pid {proc.pid} at {url}"
                + (f", {quotas.cpus:g} CPU (cgroup {group.path})" if quotas and group else ""))
        yield started
    finally:
        for instance in started:  # each by its own pid
            instance.proc.terminate()
        for instance in started:
            instance.proc.wait(20)


def run(name: str, n: int, admin: str, folder: Path, extra: list[str],
        cpu_quota: float | None) -> dict[str, Any]:
    say(f"{name}, {n} instance(s)" + (f", {cpu_quota:g} CPU each" if cpu_quota else "")
        + ": new database, starting instances")
    quotas = CpuQuotas(cpu_quota) if cpu_quota else nullcontext()
    with quotas as confined, database(admin) as conninfo, \
            instances(url_of(conninfo), n, folder, extra, confined) as started:
        dbname = str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])
        sampler = Sampler(admin, dbname, [i.proc.pid for i in started],
                          [i.group for i in started])
        sampler.start()
        out = folder / f"{name}-{n}"
        args = [arg for i in started for arg in
                ("--url", i.url, "--server-pid", str(i.proc.pid))]
        load_before = os.getloadavg()[0]
        command = [sys.executable, "-m", "load", *shlex.split(RUNS[name](n)), *args,
                   "--no-progress", "--out", str(out)]
        say(f"  load tool: python -m load {RUNS[name](n)} (report in {out}); the "
            "convergence check after the load reads every instance's feed, slowly under a quota")
        tool_log = folder / f"{name}-{n}.log"
        with open(tool_log, "wb") as log:
            tool = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        sampler.tool_pid = tool.pid
        try:
            status = tool.wait()
        finally:
            if tool.poll() is None:  # Ctrl-C reached us first: stop it by its own pid
                tool.terminate()
                tool.wait(30)
            sampler.finish()
    if not (out / "report.json").exists():
        raise RuntimeError(f"the load tool wrote no report: {tool_log.read_text()[-2000:]}")
    report = orjson.loads((out / "report.json").read_bytes())
    row = summarize(name, n, report, sampler, status, cpu_quota)
    row["load_avg"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    say(f"  {row['rate_per_s']:,.0f} {UNITS[name]}/s, verdict {row['verdict']}")
    return row


def summarize(name: str, n: int, report: dict[str, Any], sampler: Sampler, status: int,
              cpu_quota: float | None) -> dict[str, Any]:
    results = report["results"]
    totals = results["totals_load_phase"]
    if name == "feed":  # the readers' window only, not the seeding writes before it
        feed = results["extra"]["changefeed"] if "extra" in results else results["changefeed"]
        start, end = feed["monotonic"]
        units, rate = feed["readers"] * feed["records"], feed["changes_per_s"]
    else:
        start, end = results["cpu"]["load_phase"]["monotonic"]
        units = totals.get(UNITS[name], 0)
        rate = results["throughput_per_s"].get(UNITS[name])
    window = sampler.between(start, end)
    wall = max(window.seconds, 1e-9)
    server = sum(window.instances)
    latency = results.get("latency_ms", {})
    return {
        "run": name, "instances": n, "cpu_quota": cpu_quota, "status": status,
        "verdict": report["convergence"]["verdict"], "errors": results["errors"],
        "rate_per_s": rate, "units": units, "wall_s": round(end - start, 2),
        "server_us": round(1e6 * server / max(units, 1), 2),
        "postgres_us": round(1e6 * window.postgres / max(units, 1), 2),
        "server_cores": round(server / wall, 2),
        "instance_cores": [round(s / wall, 3) for s in window.instances],
        "postgres_cores": round(window.postgres / wall, 2),
        "tool_cores": round(window.tool / wall, 2),
        # per instance: CFS periods it ran in, how many ended with the quota used up
        "throttled": [None if t is None else
                      {"periods": t.periods, "throttled": t.throttled,
                       "share": round(t.share, 3), "throttled_s": round(t.throttled_s, 2)}
                      for t in window.throttling],
        "latency_ms": {k: {q: latency[k][q] for q in ("count", "p50_ms", "p99_ms")}
                       for k in latency if k.startswith("delivery")},
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, each rate beside the same run's one-instance rate."""
    one = {r["run"]: r["rate_per_s"] for r in rows if r["instances"] == 1}
    lines = [
        "| run | instances | CPU quota each | rate/s | ratio to one | throttled periods "
        "(each instance) | cores: each instance / PostgreSQL / load tool | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = one.get(r["run"])
        ratio = f"{r['rate_per_s'] / base:.2f}x" if base and r["rate_per_s"] else "-"
        throttled = ", ".join("-" if t is None else f"{t['share']:.0%} of {t['periods']}"
                              for t in r["throttled"])
        each = " + ".join(f"{c:.2f}" for c in r["instance_cores"])
        quota = f"{r['cpu_quota']:g}" if r["cpu_quota"] else "none"
        lines.append(
            f"| {r['run']} | {r['instances']} | {quota} | {r['rate_per_s']:,.0f} "
            f"{UNITS[r['run']]} | {ratio} | {throttled} | {each} / {r['postgres_cores']:.2f} "
            f"/ {r['tool_cores']:.2f} | {r['verdict']} |")
    lines += [
        "",
        "rate: per second of the load phase (feed: of the readers' window). throttled periods:",
        "of the 100 ms CFS periods in which an instance ran, the share that ended with its",
        "quota used up (cgroup cpu.stat; near 100%: the quota was the bound, low: something",
        "else was). cores: CPU seconds per second over the same window (/proc/PID/stat).",
    ]
    return "\n".join(lines)


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the instances stop and their cgroups go on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.pg_instances", description=__doc__)
    p.add_argument("--instances", default="1,3", help="instance counts, comma-separated")
    p.add_argument("--only", default="push,feed,fanout", help="runs, comma-separated")
    p.add_argument("--admin", default=os.environ.get("SYNCSERVER_TEST_PG") or ADMIN,
                   help="a PostgreSQL URL allowed to create databases")
    p.add_argument("--server-args", default="", help="more `syncserver serve` options")
    p.add_argument("--cpu-quota", type=float, metavar="CPUS",
                   help="hold each instance to this many CPUs (e.g. 0.2) with a cgroup of "
                        "its own (needs root); PostgreSQL and the load tool stay outside")
    args = p.parse_args(argv)
    if args.cpu_quota is not None:
        try:  # fail before any database or instance exists
            hierarchy = probe(args.cpu_quota)
        except (CgroupUnavailable, ValueError) as exc:
            print(f"--cpu-quota: {exc}", file=sys.stderr)
            return 2
        say(f"CPU quota: {args.cpu_quota:g} CPU per instance "
            f"(cgroup v{hierarchy.version}, groups under {hierarchy.base})")
    signal.signal(signal.SIGTERM, interrupted)
    folder = Path(tempfile.mkdtemp(prefix="syncserver-pg-instances-"))
    rows = []
    try:
        for name in args.only.split(","):
            for n in (int(x) for x in args.instances.split(",")):
                row = run(name, n, args.admin, folder, shlex.split(args.server_args),
                          args.cpu_quota)
                rows.append(row)
                print(orjson.dumps(row).decode(), flush=True)
    except KeyboardInterrupt:  # everything was stopped and removed on the way out
        say("interrupted: instances stopped, database dropped, cgroups removed")
        if rows:
            print("\n" + table(rows))
        return 130
    print()
    print(table(rows))
    print(f"\nreports and logs: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
