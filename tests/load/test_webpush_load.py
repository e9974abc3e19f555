"""`python -m load webpush` at a small size (1,000 subscriptions, 200 offline members of the
big space, 2 changes), through the load tool's own entry point against a server it spawns:
every other member's device gets each change exactly once with its head, the writer's none,
no device outside the space any; the push service saw no more requests in flight than the
server's senders; and the verdict says so. The issue's size is in docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import orjson

from load.cli import main

SENDERS = 4


def test_webpush_load_nudges_each_offline_member_once_within_its_bounds(tmp_path: Path
                                                                       ) -> None:
    status = main(["webpush", "--spawn", "--subscriptions", "1000", "--members", "200",
                   "--changes", "2", "--gap", "1", "--baseline", "2", "--others", "2",
                   "--senders", str(SENDERS), "--service-latency-ms", "20",
                   # the verdict's latency bound is the larger of this and 5 x the
                   # baseline: on a shared 2-core machine the count is what is asserted
                   "--max-p99-ms", "1000", "--no-progress", "--out", str(tmp_path)])
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    result = report["results"]
    assert report["problems"] == [] and report["verdict"] == "clean"
    assert status == 0
    assert [c["nudges"] for c in result["changes"]] == [199, 199]
    for change in result["changes"]:
        assert change["devices"] == 199
        assert change["missing"] == change["twice"] == change["writer"] == 0
        assert change["not_members"] == 0
    assert result["nudges_total"] == result["nudges_expected_total"] == 398
    assert result["stray_nudges"] == 0 and result["service_problems"] == {}
    assert 1 <= result["service_max_in_flight"] <= SENDERS
    assert result["server_metrics"]['syncserver_webpush_sent_total{kind="sync"}'] == 398
    assert result["others"]["failures"] == 0 and result["others"]["pushes_during"] > 0


def test_webpush_load_refuses_a_remote_target_and_bad_sizes() -> None:
    for argv in (["--url", "http://10.0.0.1:8000", "--token-secret", "x" * 32],
                 ["--spawn", "--members", "20", "--subscriptions", "10"],
                 ["--spawn", "--url", "http://127.0.0.1:8000"]):
        try:
            main(["webpush", *argv])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
