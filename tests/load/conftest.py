"""Helpers for the load-tool tests: run ``python -m load`` in-process and read its report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from load.cli import main


@pytest.fixture
def run_load(tmp_path: Path) -> Callable[..., tuple[int, dict[str, Any]]]:
    """run_load(scenario, url, *extra) -> (exit status, report.json as a dict)."""
    runs = 0

    def run(scenario: str, url: str, *extra: str) -> tuple[int, dict[str, Any]]:
        nonlocal runs
        runs += 1
        out = tmp_path / f"report-{runs}"
        # --loop asyncio: uvloop would be installed as the process-wide policy
        status = main(
            [
                scenario,
                "--url",
                url,
                "--no-progress",
                "--loop",
                "asyncio",
                "--seed",
                "7",
                "--out",
                str(out),
                *extra,
            ]
        )
        report = orjson.loads((out / "report.json").read_bytes())
        assert (out / "report.html").read_text().startswith("<!doctype html>")
        return status, report

    return run
