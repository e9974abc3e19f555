"""report.json (every figure and the verdict, for machines and CI) and report.html (the
same, with charts, for a person)."""

from __future__ import annotations

import platform
import subprocess
import sys
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

import load
from load.checker import Verdict
from load.settings import Settings
from load.stats import Stats
from load.svg import cdf_chart, line_chart


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
    settings: Settings, stats: Stats, verdict: Verdict | None, server: dict[str, Any]
) -> dict[str, Any]:
    drive = stats.extra.get("drive_s")
    return {
        "scenario": settings.scenario,
        "settings": settings.to_json(),
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


def _table(rows: list[list[Any]], head: list[str]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def render_html(report: dict[str, Any], stats: Stats) -> str:
    results, verdict = report["results"], report["convergence"]
    ok = verdict.get("ok")
    latency_rows = [
        [op, s["count"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]
        for op, s in results["latency_ms"].items()
    ]
    throughput_rows = [
        [k, f"{v:,}", f"{results['throughput_per_s'][k]:,}"] for k, v in results["totals"].items()
    ]
    error_rows = [[k, v, results["error_samples"].get(k, "")] for k, v in results["errors"].items()]
    anomaly_rows = [
        [
            a["kind"],
            a.get("record", ""),
            a.get("client_id", ""),
            orjson.dumps({k: v for k, v in a.items() if k not in ("kind", "record")}).decode()[
                :300
            ],
        ]
        for a in verdict.get("anomalies", [])
    ]
    timeline = {
        k: [float(x) for x in v]
        for k, v in results["timeline"].items()
        if k
        in (
            "mutations",
            "changes_pulled",
            "changes_delivered",
            "deliveries",
            "initial_sync_records",
        )
    }
    # one line per operation that ran across several seconds: stalls stand out as spikes
    worst = {
        op: v for op, v in sorted(results.get("worst_ms_per_second", {}).items()) if len(v) > 1
    }
    distributions = {op: h.distribution() for op, h in sorted(stats.latency.items())}
    verdict_text = verdict.get("verdict", "?")
    setup = orjson.dumps(
        {"settings": report["settings"], "versions": report["versions"]},
        option=orjson.OPT_INDENT_2,
    ).decode()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>syncserver load: {escape(report['scenario'])}</title>",
        (
            "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            "th{background:#f4f4f4}.ok{color:#060}.bad{color:#b00}"
            "pre{background:#f8f8f8;padding:1em;overflow:auto}</style></head><body>"
        ),
        f"<h1>syncserver load report: {escape(report['scenario'])}</h1>",
        f"<p class='{'ok' if ok else 'bad'}'><b>Convergence: {escape(verdict_text)}</b></p>",
        "<h2>Throughput</h2>",
        _table(throughput_rows, ["what", "total", "per second"]),
        line_chart(timeline, "seconds since start", "per second") if timeline else "",
        "<h2>Latency (ms)</h2>",
        _table(latency_rows, ["operation", "count", "p50", "p95", "p99", "max"]),
        cdf_chart(distributions) if distributions else "",
        line_chart(worst, "seconds since start", "worst latency (ms)") if worst else "",
        "<h2>Errors</h2>",
        _table(error_rows, ["kind", "count", "first sample"]) if error_rows else "<p>none</p>",
        "<h2>Convergence checks</h2>",
        _table([[k, v] for k, v in verdict.get("counts", {}).items()], ["check", "count"]),
        _table(anomaly_rows, ["anomaly", "record", "client", "detail"]) if anomaly_rows else "",
        "<h2>Settings and versions</h2>",
        f"<pre>{escape(setup)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)
