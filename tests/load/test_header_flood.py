"""1,000 connections at once, each sending a request header that never ends (and again on a
new connection once the server closes it), through the load tool's own command
(`python -m load.hostile --kinds header-flood`) against a server with its default limits:
the server's memory stays where it was and another client's pushes go on at about the pace
they had before the attack. Latency is judged against the same client's baseline in the same
run (ratios), so a busy machine is neither a failure nor a silent pass.

Before heads were bounded: +630 MB of server memory, 9 pushes in the 10 s hold instead of
~160, p99 3.4 s against 40 ms before the attack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.server import REPO, ServerProcess

CONNECTIONS = 1000
HOLD = 10.0
BASELINE = 5.0
MAX_RSS_GROWTH_MB = 64  # 1,000 heads at the 32 KiB limit (32 MB), with room for the rest
MAX_P50_RATIO = 3.0
MAX_P99_RATIO = 15.0
# ... or this, whichever is larger: a ratio to a 5 ms baseline p99 would judge the tail of a
# run where 1,000 connections reconnect hundreds of times a second by a few scheduler ticks
# (105 ms against 4.6 ms failed a quiet run; before the bound it was seconds).
MAX_P99_FLOOR_MS = 150.0


def test_a_thousand_endless_headers_leave_memory_and_other_clients_pushes_alone(
        tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sync.db", env={"SYNCSERVER_AUTH": "none"}).start()
    out = tmp_path / "flood.json"
    try:
        assert server.proc is not None
        run = subprocess.run(
            [sys.executable, "-m", "load.hostile", "--url", server.url,
             "--server-pid", str(server.proc.pid), "--kinds", "header-flood",
             "--per-kind", str(CONNECTIONS), "--records", "0", "--baseline", str(BASELINE),
             "--hold", str(HOLD), "--settle", "2", "--max-p99-ms", "1000000",
             "--json", str(out), "--no-progress"],
            cwd=REPO, capture_output=True, text=True, timeout=240)
        assert out.exists(), run.stderr[-3000:]
        result = orjson.loads(out.read_bytes())
    finally:
        server.stop()
    summary = {k: v for k, v in result.items()
               if k not in ("push_ms_in_order", "attacker_events_by_second_of_the_hold")}
    assert run.returncode == 0, (run.stderr[-3000:], summary)  # pushes all answered, healthy
    assert result["attackers"]["header-flood.opened"] >= CONNECTIONS, summary
    assert result["attackers"].get("header-flood.closed_by_server", 0) >= CONNECTIONS, summary
    growth = result["server_rss_max_sampled_mb"] - result["server_rss_before_mb"]
    assert growth < MAX_RSS_GROWTH_MB, summary
    # The client's pace: pushes one after another, so a stalled server shows as few pushes.
    assert result["pushes"] >= 0.5 * result["baseline_pushes"] * HOLD / BASELINE, summary
    assert result["push_p50_ms"] <= MAX_P50_RATIO * result["baseline_push_p50_ms"], summary
    assert result["push_p99_ms"] <= max(MAX_P99_FLOOR_MS,
                                        MAX_P99_RATIO * result["baseline_push_p99_ms"]), summary
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
