"""`python -m load.pg_drivers` (docs/benchmarks.md) runs to its end on a throwaway
database it creates and drops, and reports every figure of both drivers."""

from __future__ import annotations

import re
import subprocess
import sys

from tests import pg
from tests.server import REPO


def test_the_driver_benchmark_reports_every_figure_and_drops_its_database():
    server = pg.require_postgres()
    done = subprocess.run(
        [sys.executable, "-m", "load.pg_drivers", "--server", server, "--duration", "0.2",
         "--rounds", "1", "--concurrency", "2"],
        capture_output=True, text=True, timeout=240, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert "[15/15]" in done.stderr  # progress, figure by figure
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| push", "| feed"))]
    assert len(rows) == 5, done.stdout
    for row in rows:
        cells = [re.fullmatch(r" ([\d,]+) \(([\d.]+) µs\) ", c) for c in row.split("|")[3:6]]
        assert all(c and float(c[1].replace(",", "")) > 0 and float(c[2]) > 0
                   for c in cells), row
    name = re.search(r"database (syncserver_bench_\w+) dropped", done.stderr)
    assert name is not None, done.stderr
    assert not pg.database_exists(pg.database_url(server, name.group(1)))
