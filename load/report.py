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

import load
from load.checker import Verdict
from load.settings import Settings
from load.stats import Stats
from load.report_html import render_html


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
