"""report.json (every figure and the verdict, for machines and CI) and report.html (the
same, with charts, for a person: load/report_html.py)."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

import load
from load.checker import Verdict
from load.glossary import TOTALS, total_label
from load.report_html import render_html
from load.settings import Settings
from load.stats import Stats


def _source_versions() -> dict[str, str]:
    """The checkout the tool runs from (usually the server's too) and the installed server."""
    found: dict[str, str] = {}
    try:
        found["syncserver_package"] = metadata.version("syncserver")
    except metadata.PackageNotFoundError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        if commit:
            found["git_commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def build_report(
    settings: Settings,
    stats: Stats,
    verdict: Verdict | None,
    server: dict[str, Any],
    target: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``target``: the server loaded: ``kind`` (spawned or external), ``urls`` and, when
    spawned, the ``server_args`` it was started with."""
    drive = stats.extra.get("drive_s")
    return {
        "scenario": settings.scenario,
        "target": target or {"kind": "external", "urls": settings.urls, "server_args": None},
        "settings": settings.to_json(),
        "scenario_settings": settings.scenario_settings(),
        "versions": {
            "load_tool": load.__version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            **_source_versions(),
            "server": server,
        },
        "results": stats.to_json(measured_seconds=drive),
        "convergence": verdict.to_json() if verdict else {"ok": False, "verdict": "not checked"},
    }


def write_reports(report: dict[str, Any], stats: Stats, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    html_path.write_text(render_html(report, stats), encoding="utf-8")
    return json_path, html_path


def print_summary(console: Console, report: dict[str, Any]) -> None:
    results, verdict = report["results"], report["convergence"]
    for op, s in results["latency_ms"].items():
        console.print(
            f"  {op:<20} n={s['count']:<8} p50={s['p50_ms']}ms p95={s['p95_ms']}ms "
            f"p99={s['p99_ms']}ms max={s['max_ms']}ms"
        )
    totals = results["totals"]
    for what in [k for k in TOTALS if k in totals] + sorted(set(totals) - set(TOTALS)):
        rate = results["throughput_per_s"].get(what, 0.0)
        console.print(f"  {total_label(what):<22} {totals[what]:>10,}  {rate:>12,.1f}/s")
    memory = results.get("memory") or {}
    if memory:
        server = memory.get("server_peak_rss_mb")
        console.print(f"  memory: load tool peak {memory['tool_peak_rss_mb']:,} MB"
                      + (f", server peak {server:,} MB" if server is not None else ""))
    subs = results.get("subscriptions") or {}
    if subs.get("kb_per_subscription") is not None:
        console.print(f"  server memory: {subs['kb_per_subscription']:,} KB per subscription, "
                      f"{subs['kb_per_connection']:,} KB per connection ({subs['subscriptions']:,} "
                      f"subscriptions on {subs['connections']:,} WebSockets)")
    fan = results.get("fanout") or {}
    if fan:
        per = fan["server_us_per_delivery"]
        console.print(
            f"  fan-out: {fan['deliveries']:,} deliveries to {fan['subscribers']:,} subscribers "
            f"({fan['deliveries_per_s']:,}/s; {fan['sample']:,} timed, {fan['procs']} receiver "
            f"processes): delivery p50 {fan['delivery_p50_ms']} ms p99 "
            f"{fan['delivery_p99_ms']} ms, push p99 {fan['push_p99_ms']} ms; CPU server "
            f"{fan['server_cpu_s']} s, tool {fan['tool_cpu_s']} s; server "
            f"{'not measured' if per is None else f'{per} us'} per delivery")
        if fan.get("frames_per_write") is not None:
            console.print(f"  live frames per socket write: {fan['frames_per_write']} "
                          f"({fan['live_frames_sent']:,.0f} frames in "
                          f"{fan['live_writes']:,.0f} writes)")
    if results.get("stopped_by") == "max_mutations":
        console.print("  the run stopped at --max-mutations before --duration")
    if results["errors"]:
        console.print(f"  errors: {results['errors']}")
    if verdict.get("ok"):
        console.print("[green]convergence: clean[/green]")
    else:
        console.print(f"[red]convergence: {verdict.get('verdict')}[/red]")
        for anomaly in verdict.get("anomalies", [])[:20]:
            console.print(f"  {orjson.dumps(anomaly).decode()[:400]}")
