"""``python -m load.bench``: the benchmarks of docs/benchmarks.md, each against a fresh
spawned server, printed as a Markdown table beside their targets.

Each benchmark is an ordinary ``python -m load`` run (so each also gets a convergence
verdict); ``--repeat N`` runs each N times and reports the median and the best."""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

from load.cli import main as load_main

Report = dict[str, Any]


@dataclass
class Figure:
    name: str
    target: str
    read: Callable[[Report], float]
    unit: str
    higher_is_better: bool
    goal: float


SEED = ["initial-sync", "--records", "100000", "--batch-size", "500", "--duration", "120"]
PUSH = ["steady", "--clients", "4", "--batch-size", "500", "--record-size", "200",
        "--pull-every", "0", "--ws-ratio", "0", "--spaces", "4", "--duration", "10"]


def _push_figure(name: str) -> Figure:
    return Figure(name, ">= 50,000 mutations/s",
                  lambda r: r["results"]["throughput_per_s"]["mutations"], "mutations/s", True,
                  50_000)


RUNS: list[tuple[list[str], list[Figure]]] = [
    (
        [*PUSH, "--patch-share", "0", "--delete-share", "0"],
        [_push_figure("push, new records (4 clients, batches of 500, ~200-byte records)")],
    ),
    (
        PUSH,
        [_push_figure("push, mixed: 70% new, 25% merge patches, 5% deletes (as above)")],
    ),
    (
        [*SEED, "--readers", "1"],
        [
            Figure(
                "changefeed (1 reader from cursor zero, pages of 1,000)",
                ">= 300,000 changes/s",
                lambda r: r["results"]["changefeed"]["changes_per_s"],
                "changes/s",
                True,
                300_000,
            ),
            Figure(
                "initial sync (one new client, 100,000 records, HTTP)",
                "< 3 s",
                lambda r: r["results"]["latency_ms"]["initial_sync_http"]["max_ms"] / 1000,
                "s",
                False,
                3,
            ),
            Figure(
                "initial sync (one new client, 100,000 records, WebSocket)",
                "< 3 s",
                lambda r: r["results"]["latency_ms"]["initial_sync_ws"]["max_ms"] / 1000,
                "s",
                False,
                3,
            ),
        ],
    ),
    (
        [*SEED, "--readers", "2"],
        [
            Figure(
                "changefeed (2 concurrent readers, total)",
                ">= 300,000 changes/s",
                lambda r: r["results"]["changefeed"]["changes_per_s"],
                "changes/s",
                True,
                300_000,
            )
        ],
    ),
    (
        ["fanout", "--subscribers", "1000", "--writers", "4", "--rate", "25", "--duration", "15"],
        [
            Figure(
                "fan-out (1,000 WebSocket subscribers, 25 writes/s)",
                "delivery p99 <= 100 ms",
                lambda r: r["results"]["latency_ms"]["delivery"]["p99_ms"],
                "ms",
                False,
                100,
            ),
            Figure(
                "fan-out, delivery p50",
                "-",
                lambda r: r["results"]["latency_ms"]["delivery"]["p50_ms"],
                "ms",
                False,
                1e9,
            ),
        ],
    ),
]


def run_one(args: list[str], out: Path, token_secret: str | None = None) -> Report:
    # one argument: a urlsafe secret may begin with "-", which argparse would take for an option
    auth = [f"--token-secret={token_secret}"] if token_secret else []
    status = load_main([*args, *auth, "--spawn", "--no-progress", "--out", str(out)])
    report: Report = orjson.loads((out / "report.json").read_bytes())
    report["exit_status"] = status
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("load-report-bench"))
    parser.add_argument("--only", help="run only the runs whose command contains this word")
    parser.add_argument("--auth", action="store_true",
                        help="auth on: each run spawns the server with --auth jwt and its "
                             "clients carry per-client tokens (--token-secret)")
    args = parser.parse_args(argv)
    secret = secrets.token_urlsafe(32) if args.auth else None
    rows = []
    clean = True
    for index, (command, figures) in enumerate(RUNS):
        if args.only and args.only not in command:
            continue
        reports = [run_one(command, args.out / f"{index}-{n}", secret)
                   for n in range(args.repeat)]
        clean = clean and all(r["exit_status"] == 0 for r in reports)
        load_phase = reports[-1]["results"].get("cpu", {}).get("load_phase", {})
        cpu = f"tool {load_phase.get('tool_cpu_s')}, server {load_phase.get('server_cpu_s')}"
        for figure in figures:
            values = [figure.read(r) for r in reports]
            best = max(values) if figure.higher_is_better else min(values)
            median = statistics.median(values)
            met = median >= figure.goal if figure.higher_is_better else median <= figure.goal
            verdict = "-" if figure.target == "-" else ("met" if met else "not met")
            rows.append(
                f"| {figure.name} | {figure.target} | {median:,.2f} {figure.unit} "
                f"(best {best:,.2f}, n={len(values)}) | {verdict} | {cpu} |"
            )
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} CPUs, load average now {load_avg}\n")
    print("| benchmark | target | measured (median) | verdict | CPU s during load (last run) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if not clean:
        print("\nat least one run did not converge cleanly: see its report", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
