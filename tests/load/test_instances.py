"""Every load scenario against three instances sharing one PostgreSQL database (`--url`
three times: clients spread round-robin, the checker reads every instance's feed). A clean
verdict needs each instance's WebSockets to receive the writes made through the others."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.load.test_scenarios import CASES, SHORT
from tests.server import ServerProcess


@pytest.fixture
def three(postgres_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    # One migrates first, so the others start on the migrated schema (they would wait
    # on the advisory lock otherwise: the same result, a slower start).
    first = ServerProcess(postgres_url, log=tmp_path / "instance0.log").start()
    others = [ServerProcess(postgres_url, log=tmp_path / f"instance{i}.log") for i in (1, 2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ServerProcess.start, others))
        yield [first, *others]
    finally:
        for server in (first, *others):
            server.stop()


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_scenario_ends_clean_on_three_instances(scenario, three, run_load):
    urls = [arg for server in three[1:] for arg in ("--url", server.url)]
    pids = [arg for server in three for arg in ("--server-pid", str(server.proc.pid))]
    status, report = run_load(scenario, three[0].url, *urls, *pids, *SHORT, *CASES[scenario])
    logs = "\n".join(server.log.read_text()[-1500:] for server in three)
    verdict = report["convergence"]
    assert report["target"]["urls"] == [server.url for server in three]
    assert verdict["anomalies"] == [], logs
    assert report["results"]["errors"] == {}, (report["results"]["error_samples"], logs)
    assert verdict["verdict"] == "clean" and status == 0
    # --server-pid: the three instances' CPU, summed, is the report's server CPU
    assert report["results"]["cpu"]["load_phase"]["server_cpu_s"] > 0
    assert verdict["counts"]["mutations"] > 0 and verdict["counts"]["records_checked"] > 0
