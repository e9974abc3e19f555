"""Guarantee 12 as the issue states its target: 1,000 hostile connections of each kind at
once (slow readers of pages of 250 KB records, WebSocket subscribers that never read,
subscribe floods, long-polls of never-written spaces, headers and bodies sent a byte at a
time), and the server's resident memory stays under 1 GB while another client's push p99
stays under 100 ms. Run through the load tool's own command, `python -m load.hostile`,
against a server with its default limits, and its verdict is asserted whatever the machine
is doing: on a machine other work slows, the latency bound is that client's own p99 before
the attack times MAX_P99_RATIO (the tool's `--max-p99-ratio`), never no bound at all."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from load import hostile
from load.attackers import KINDS as ATTACKER_KINDS
from tests.server import REPO, ServerProcess

PER_KIND = 1000
# Every kind but the header flood, which reconnects hundreds of times a second by design and
# has a test of its own (test_header_flood.py, judged by ratios to its own baseline).
KINDS = [kind for kind in ATTACKER_KINDS if kind != "header-flood"]
MAX_RSS_MB = 1024
MAX_P99_MS = 100
# What the attack may cost the client over its own p99 alone, in the same run: the 100 ms
# over the 20 ms it sees on the quiet 2-core machine (docs/deployment.md, "Hostile clients").
MAX_P99_RATIO = 5


@pytest.fixture
def descriptors() -> Iterator[int]:
    """Soft RLIMIT_NOFILE up to the hard limit for this process and the server it starts
    (each side holds a descriptor per connection); put back afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = PER_KIND * len(KINDS) + 1000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"{wanted} file descriptors needed, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# Alone (tests/conftest.py): 6,000 connections and a latency bound; beside three other
# workers' tests (-n 4) a kind did not reach its 1,000 connections.
@pytest.mark.serial
def test_a_thousand_hostile_connections_of_each_kind_leave_memory_and_pushes_bounded(
        descriptors: int, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sync.db", env={"SYNCSERVER_AUTH": "none"}).start()
    out = tmp_path / "hostile.json"
    try:
        assert server.proc is not None
        run = subprocess.run(
            [sys.executable, "-m", "load.hostile", "--url", server.url,
             "--server-pid", str(server.proc.pid), "--per-kind", str(PER_KIND),
             "--kinds", ",".join(KINDS),
             "--hold", "15", "--settle", "5", "--max-rss-mb", str(MAX_RSS_MB),
             "--max-p99-ms", str(MAX_P99_MS), "--max-p99-ratio", str(MAX_P99_RATIO),
             "--json", str(out), "--no-progress"],
            cwd=REPO, capture_output=True, text=True, timeout=240)
        assert out.exists(), run.stderr[-3000:]
        result = orjson.loads(out.read_bytes())
        summary = {k: v for k, v in result.items()
                   if k not in ("push_ms_in_order", "server_rss_mb_every_half_second")}
        opened = {k: v for k, v in result["attackers"].items() if k.endswith(".opened")}
        assert len(opened) == len(KINDS) and all(v >= PER_KIND for v in opened.values()), summary
        assert result["pushes"] >= 100 and not result["push_failures"], summary
        assert result["server_peak_rss_mb"] < MAX_RSS_MB, summary
        assert result["healthy_after"], summary
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert result["problems"] == [] and run.returncode == 0, (summary, run.stderr[-3000:])
    # The tool judged by the bound this test states.
    bound = max(MAX_P99_MS, MAX_P99_RATIO * result["baseline_push_p99_ms"])
    assert result["push_p99_bound_ms"] == round(bound, 1), summary
    assert result["push_p99_ms"] <= bound, summary


def _verdict(push_p99_ms: float, baseline_push_p99_ms: float | None) -> list[str]:
    args = hostile.parse_args(["--spawn", "--max-p99-ms", str(MAX_P99_MS),
                               "--max-p99-ratio", str(MAX_P99_RATIO)])
    result = {"pushes": 200, "push_failures": {}, "push_p99_ms": push_p99_ms,
              "baseline_push_p99_ms": baseline_push_p99_ms, "server_peak_rss_mb": 500.0,
              "healthy_after": True,
              "push_p99_bound_ms": hostile.p99_bound_ms(baseline_push_p99_ms, args)}
    return hostile.verdict(result, args)


def test_the_latency_verdict_is_judged_on_a_busy_machine_too() -> None:
    """The tool's own rule, without an attack: a quiet machine is held to 100 ms; a busy one
    to five times the client's own p99 alone (a 681 ms p99 over a 22 ms baseline, seen on
    this machine, fails: it was a pass by skip before); no baseline is no pass."""
    assert _verdict(95, 20) == []
    assert _verdict(105, 20) != []
    assert _verdict(390, 80) == []  # a busy machine: 80 ms alone, 400 ms allowed
    assert _verdict(410, 80) != []
    assert "681.5 ms > 110 ms" in _verdict(681.5, 22)[0]
    assert "no baseline" in _verdict(50, None)[0]
