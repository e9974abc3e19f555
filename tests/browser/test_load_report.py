"""The load report people share (load/report_html.py), rendered by real Chromium from a short
real run against a spawned server: every section is there, the charts fill the page's width
at any window size, and a screenshot is kept (test-artifacts/load-report-*.png)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Browser

from tests.server import REPO

SECTIONS = ("summary", "parameters", "machine", "resources", "throughput", "latency", "errors",
            "convergence", "raw")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """offline-burst for 3 s: replays, lost responses and a settle phase, all in the report."""
    out = tmp_path_factory.mktemp("load") / "report"
    done = subprocess.run(
        [sys.executable, "-m", "load", "offline-burst", "--spawn", "--duration", "3",
         "--clients", "8", "--offline-max", "0.8", "--seed", "11", "--no-progress",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def chart_fill(page) -> list[float]:  # type: ignore[no-untyped-def]
    """Each chart's width as a share of its section's content width."""
    return page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(svg => {
        const box = svg.parentElement; const style = getComputedStyle(box);
        const inner = box.clientWidth - parseFloat(style.paddingLeft)
                      - parseFloat(style.paddingRight);
        return svg.getBoundingClientRect().width / inner; })""")


@pytest.mark.parametrize("width", [1400, 760])
def test_the_load_report_shows_every_section_and_full_width_charts(
    browser: Browser, report_dir: Path, artifacts: Path, width: int
) -> None:
    report = orjson.loads((report_dir / "report.json").read_bytes())
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto((report_dir / "report.html").as_uri())
        for anchor in SECTIONS:
            assert page.locator(f"section#{anchor} h2").is_visible(), anchor
        text = page.inner_text("body")
        # the run's parameters, the machine, the CPU of both sides
        for words in ("offline-burst", "spawned by the tool", "seed", "11", "batch size",
                      "replay twice", "CPU", "cores", "Python", "memory", "GiB",
                      "load tool", "server"):
            assert words in text, words
        resources = page.inner_text("section#resources")
        assert "not measured" not in resources and resources.count(" cores)") >= 4
        # one meaning of mutations, said where the counts are
        throughput = page.inner_text("section#throughput")
        assert "new mutations" in throughput and "replayed mutations" in throughput
        assert "replays included" in throughput and "replays excluded" in throughput
        assert "last second of the run" in throughput or "whole second" in throughput
        convergence = page.inner_text("section#convergence")
        assert "replays excluded" in convergence
        assert report["convergence"]["verdict"] in page.inner_text("section#summary")
        fills = chart_fill(page)
        assert len(fills) >= 2 and all(f > 0.97 for f in fills), fills
        # nothing sticks out sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(artifacts / f"load-report-{width}.png"), full_page=True)
    finally:
        page.close()
