"""The outcome of ``python -m load vs``: a Markdown table on stdout (work, syncserver/s,
peer/s, ratio against issue 22's goal, CPU seconds) and report.json."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from load.vs.clients import Measured
from load.vs.wire import POUCHDB, SYNCSERVER

# issue 22: syncserver's figure over PouchDB Server's, at least
GOALS = {"push": 5.0, "feed": 8.0}
WORDS = {"push": "push (writes acknowledged)", "feed": "feed (changes read)"}


@dataclass
class Row:
    work: str
    clients: int
    results: dict[str, Measured] = field(default_factory=dict)
    stores: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        ours, theirs = self.results.get(SYNCSERVER), self.results.get(POUCHDB)
        if ours is None or theirs is None or not theirs.per_s or ours.errors or theirs.errors:
            return None
        return ours.per_s / theirs.per_s

    @property
    def cpu_ratio(self) -> float | None:
        """The peer's server CPU per unit over syncserver's: how many times less CPU
        syncserver spent on the same unit of work (a rate's ratio on an idle machine with a
        core per server; a busy one moves rates far more than CPU per unit)."""
        ours, theirs = self.results.get(SYNCSERVER), self.results.get(POUCHDB)
        if ours is None or theirs is None or ours.errors or theirs.errors:
            return None
        mine, other = ours.server_us_per_unit, theirs.server_us_per_unit
        return other / mine if mine and other else None

    def to_json(self) -> dict[str, Any]:
        ratio, cpu_ratio = self.ratio, self.cpu_ratio
        return {"work": self.work, "clients": self.clients,
                "ratio": None if ratio is None else round(ratio, 2),
                "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 2),
                "goal": GOALS[self.work], "met": None if ratio is None
                else ratio >= GOALS[self.work],
                **{side: {**measured.to_json(), "stores": self.stores[side]}
                   for side, measured in self.results.items()}}


def _rate(measured: Measured | None) -> str:
    if measured is None:
        return "-"
    return "failed" if measured.errors else f"{measured.per_s:,.0f}"


def _cpu(measured: Measured | None) -> str:
    """Server CPU µs per unit, then the server's and the clients' CPU seconds."""
    if measured is None:
        return "-"
    per_unit = measured.server_us_per_unit
    server = "?" if measured.server_cpu_s is None else f"{measured.server_cpu_s:.1f}"
    return (("?" if per_unit is None else f"{per_unit:,.1f}")
            + f" ({server} / {measured.clients_cpu_s:.1f})")


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def print_table(rows: list[Row]) -> None:
    print(f"\nmachine: {os.cpu_count()} CPUs, load average now "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + "\n")
    print("| work | clients | syncserver/s | pouchdb/s | ratio | goal | server CPU µs per "
          "unit, syncserver (CPU s: server / clients) | the same, pouchdb | ratio of server "
          "CPU per unit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ours, theirs = row.results.get(SYNCSERVER), row.results.get(POUCHDB)
        ratio = row.ratio
        verdict = "-" if ratio is None else ("met" if ratio >= GOALS[row.work] else "not met")
        print(f"| {WORDS[row.work]} | {row.clients} | {_rate(ours)} | {_rate(theirs)} | "
              f"{_times(ratio)} | >= {GOALS[row.work]:.0f}x: {verdict} | {_cpu(ours)} | "
              f"{_cpu(theirs)} | {_times(row.cpu_ratio)} |")


def write_report(report: dict[str, Any], rows: list[Row], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    report["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["rows"] = [row.to_json() for row in rows]
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return path
