"""``python -m load.bench``: the four benchmarks of docs/benchmarks.md, each against a fresh
spawned server, printed as a Markdown table beside its target.

Each benchmark is an ordinary ``python -m load`` run (so each also gets a convergence
verdict); ``--repeat N`` runs each N times and reports the median and the best."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

from load.cli import main as load_main

Report = dict[str, Any]


@dataclass
class Bench:
    name: str
    target: str
    args: list[str]
    figure: Callable[[Report], float]
    unit: str
    higher_is_better: bool
    goal: float


BENCHES = [
    Bench(
        "push (batches of 500, ~200-byte records)",
        ">= 50,000 mutations/s",
        [
            "steady",
            "--clients",
            "4",
            "--batch-size",
            "500",
            "--record-size",
            "200",
            "--pull-every",
            "0",
            "--ws-ratio",
            "0",
            "--spaces",
            "4",
            "--duration",
            "10",
        ],
        lambda r: r["results"]["throughput_per_s"]["mutations"],
        "mutations/s",
        True,
        50_000,
    ),
    Bench(
        "changefeed (2 readers from cursor zero, pages of 1,000)",
        ">= 300,000 changes/s",
        [
            "initial-sync",
            "--records",
            "100000",
            "--batch-size",
            "500",
            "--readers",
            "2",
            "--duration",
            "120",
        ],
        lambda r: r["results"]["changefeed"]["changes_per_s"],
        "changes/s",
        True,
        300_000,
    ),
    Bench(
        "fan-out (1,000 WebSocket subscribers, 4 writers, 25 writes/s)",
        "delivery p99 <= 100 ms",
        ["fanout", "--subscribers", "1000", "--writers", "4", "--rate", "25", "--duration", "15"],
        lambda r: r["results"]["latency_ms"]["delivery"]["p99_ms"],
        "ms p99",
        False,
        100,
    ),
    Bench(
        "initial sync (one new client, 100,000 records, HTTP)",
        "< 3 s",
        [
            "initial-sync",
            "--records",
            "100000",
            "--batch-size",
            "500",
            "--readers",
            "1",
            "--duration",
            "120",
        ],
        lambda r: r["results"]["latency_ms"]["initial_sync_http"]["max_ms"] / 1000,
        "s",
        False,
        3,
    ),
]


def run_one(bench: Bench, out: Path) -> Report:
    status = load_main([*bench.args, "--spawn", "--no-progress", "--out", str(out)])
    report: Report = orjson.loads((out / "report.json").read_bytes())
    report["exit_status"] = status
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("load-report-bench"))
    parser.add_argument("--only", help="run the benchmarks whose name starts with this")
    args = parser.parse_args(argv)
    rows = []
    clean = True
    for index, bench in enumerate(BENCHES):
        if args.only and not bench.name.startswith(args.only):
            continue
        figures, extra = [], []
        for attempt in range(args.repeat):
            report = run_one(bench, args.out / f"{index}-{attempt}")
            clean = clean and report["exit_status"] == 0
            figures.append(bench.figure(report))
            extra.append(report["results"].get("run_cpu_s", {}))
        best = max(figures) if bench.higher_is_better else min(figures)
        median = statistics.median(figures)
        met = median >= bench.goal if bench.higher_is_better else median <= bench.goal
        rows.append(
            f"| {bench.name} | {bench.target} | {median:,.2f} {bench.unit} "
            f"(best {best:,.2f}, n={len(figures)}) | {'met' if met else 'NOT met'} "
            f"| {extra[-1]} |"
        )
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} CPUs, load average now {load_avg}\n")
    print("| benchmark | target | measured (median) | verdict | CPU s (tool, server), last run |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if not clean:
        print("\nat least one run did not converge cleanly: see its report", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
