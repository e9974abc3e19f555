"""A short run of every scenario against a real server: the verdict must be clean.
Small numbers and about a second of load each; no assertion on speed."""

from __future__ import annotations

import pytest

SHORT = ["--duration", "1.5", "--settle-timeout", "20"]
CASES = {
    "steady": ["--clients", "6", "--batch-size", "20", "--spaces", "2"],
    "offline-burst": [
        "--clients",
        "6",
        "--batch-size",
        "50",
        "--offline-max",
        "0.4",
        "--replay-twice",
        "0.3",
        "--drop-response",
        "0.3",
    ],
    "contention": ["--clients", "8", "--hot-records", "3", "--fields", "2"],
    "fanout": ["--subscribers", "10", "--writers", "2", "--rate", "40"],
    "initial-sync": [
        "--records",
        "3000",
        "--batch-size",
        "500",
        "--readers",
        "2",
        "--page-limit",
        "400",
    ],
}


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_scenario_converges_against_the_real_server(scenario, live_server, run_load):
    status, report = run_load(scenario, live_server.url, *SHORT, *CASES[scenario])
    verdict = report["convergence"]
    server_log = live_server.log.read_text()[-3000:]
    assert verdict["anomalies"] == [], server_log
    assert verdict["verdict"] == "clean" and status == 0
    assert report["results"]["errors"] == {}, (report["results"]["error_samples"], server_log)
    counts = verdict["counts"]
    assert counts["mutations"] > 0 and counts["records_checked"] > 0
    assert counts["clients_checked"] > 0


def test_offline_burst_replays_are_answered_as_duplicates(live_server, run_load):
    status, report = run_load(
        "offline-burst",
        live_server.url,
        *SHORT,
        "--clients",
        "4",
        "--replay-twice",
        "0.5",
        "--drop-response",
        "0.5",
        "--offline-max",
        "0.3",
    )
    assert status == 0
    assert report["convergence"]["counts"]["replays_deduplicated"] > 0
    assert report["results"]["totals"]["lost_responses"] > 0


def test_contention_produces_recorded_conflicts(live_server, run_load):
    status, report = run_load(
        "contention",
        live_server.url,
        *SHORT,
        "--clients",
        "8",
        "--hot-records",
        "1",
        "--fields",
        "1",
    )
    assert status == 0
    outcomes = report["convergence"]["counts"]
    assert outcomes.get("outcome:conflict", 0) + outcomes.get("outcome:merged", 0) > 0
    assert outcomes["outcome:applied"] > 0
    assert outcomes["counters_checked"] == 1  # one hot record, one shared counter


def test_fanout_measures_delivery_to_every_subscriber(live_server, run_load):
    status, report = run_load(
        "fanout", live_server.url, *SHORT, "--subscribers", "5", "--writers", "1", "--rate", "20"
    )
    assert status == 0
    delivery = report["results"]["latency_ms"]["delivery"]
    assert delivery["count"] == 5 * report["results"]["totals"]["mutations"]


def test_fanout_receiver_processes_count_every_delivery(live_server, run_load):
    # 3 timed subscribers here, 9 cheap receivers in 2 processes: every write reaches 12
    status, report = run_load(
        "fanout", live_server.url, *SHORT, "--subscribers", "12", "--writers", "1",
        "--rate", "20", "--procs", "2", "--sample", "3",
    )
    assert status == 0
    results = report["results"]
    fan = results["fanout"]
    assert (fan["sample"], fan["procs"]) == (3, 2)
    assert results["latency_ms"]["delivery"]["count"] == 3 * results["totals"]["mutations"]
    assert fan["deliveries"] == 12 * results["totals"]["mutations"]
    assert fan["tool_cpu_s"] >= fan["receivers_cpu_s"] >= 0


def test_two_urls_spread_clients_and_compare_both_feeds(live_server, run_load):
    # The same instance under two spellings: clients are spread over both URLs and the
    # checker reads the feed from each (the multi-instance path, on one process).
    other = live_server.url.replace("127.0.0.1", "localhost")
    status, report = run_load(
        "steady", live_server.url, "--url", other, *SHORT, "--clients", "4", "--batch-size", "10"
    )
    assert status == 0 and report["convergence"]["counts"]["clients_checked"] == 4


def test_fanout_with_the_websockets_library_client_agrees(live_server, run_load):
    # the raw WebSocket transport is ours; the library's is the independent cross-check
    status, report = run_load(
        "fanout",
        live_server.url,
        *SHORT,
        "--subscribers",
        "5",
        "--writers",
        "1",
        "--rate",
        "20",
        "--ws-client",
        "websockets",
    )
    assert status == 0 and report["results"]["errors"] == {}
    assert report["results"]["latency_ms"]["delivery"]["count"] > 0


def test_batches_over_the_server_limit_are_split_like_the_browser_does(live_server, run_load):
    status, report = run_load(
        "offline-burst",
        live_server.url,
        *SHORT,
        "--clients",
        "2",
        "--batch-size",
        "2000",
        "--writes-per-s",
        "3000",
        "--offline-max",
        "1",
        "--drop-response",
        "0",
    )
    assert status == 0 and report["results"]["errors"] == {}
    assert report["results"]["totals"]["batches_split"] > 0


def test_new_mutations_count_each_write_once_and_replays_apart(live_server, run_load):
    """One meaning of "mutations" (load/glossary.py): the new ones are the distinct writes
    the checker verified, replays are counted apart, and both add up to what was answered;
    an external server's CPU is said to be unmeasured."""
    status, report = run_load(
        "offline-burst", live_server.url, *SHORT, "--clients", "4", "--replay-twice", "0.5",
        "--drop-response", "0.3", "--offline-max", "0.3",
    )
    assert status == 0
    totals, counts = report["results"]["totals"], report["convergence"]["counts"]
    assert totals["mutations_replayed"] > 0
    assert totals["mutations_new"] == counts["mutations"]  # each write once, all answered
    assert totals["mutations_new"] + totals["mutations_replayed"] == totals["mutations"]
    assert sum(report["results"]["outcomes"].values()) == totals["mutations"]
    cpu = report["results"]["cpu"]
    assert cpu["load_phase"]["server_note"] == "external server: not measured"
    assert cpu["load_phase"]["tool_cpu_s"] > 0 and cpu["whole_run"]["server_cpu_s"] is None
