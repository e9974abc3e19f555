"""``python -m load idle``: authenticated, subscribed WebSockets held idle against a real
spawned server, and what the server's memory did meanwhile."""

from __future__ import annotations

from pathlib import Path

import orjson

from load.idle import main

CONNECTIONS = 150


def test_idle_holds_every_socket_subscribed_and_measures_the_server(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["--spawn", "--connections", str(CONNECTIONS), "--hold", "1",
                 "--out", str(out), "--no-progress"]) == 0
    report = orjson.loads((out / "report.json").read_bytes())
    results = report["results"]
    # a socket counts as open once the server answered its subscription with `synced`
    assert results["connections"] == CONNECTIONS
    assert results["frames_while_held"] == 0  # idle: nothing written to the space
    assert results["server_rss_mb_held"] > results["server_rss_mb_before"] > 0
    assert results["server_bytes_per_connection"] > 0
    assert "token_secret" not in report["settings"]
