"""The whole tool against a deliberately broken server built here (tests/load/toy_server.py):
every fault must make ``python -m load`` exit non-zero and name the anomaly."""

from __future__ import annotations

import pytest

from tests.load.toy_server import RunningToy, ToyServer

ARGS = [
    "--duration",
    "1.2",
    "--clients",
    "4",
    "--batch-size",
    "20",
    "--ws-ratio",
    "0",
    "--offline-max",
    "0.3",
    "--replay-twice",
    "0.4",
    "--drop-response",
    "0.3",
]


@pytest.mark.parametrize(
    "fault, scenario, expected",
    [
        ("drop_write", "steady", {"missing_record", "lost_write"}),
        ("apply_twice", "offline-burst", {"applied_twice"}),
        # a change the feed never carries: a client that did not write it lacks it, and a
        # replay of the feed from the start does not reproduce the server's state
        ("skip_in_feed", "steady", {"client_diverged", "feed_mismatch"}),
    ],
)
def test_the_checker_reports_the_fault(fault, scenario, expected, run_load):
    with RunningToy(ToyServer(fault)) as toy:
        status, report = run_load(scenario, toy.url, *ARGS)
    kinds = {a["kind"] for a in report["convergence"]["anomalies"]}
    assert status == 1 and report["convergence"]["verdict"] == "anomalies"
    assert kinds & expected, kinds
    for anomaly in report["convergence"]["anomalies"]:
        assert anomaly.get("record") or anomaly.get("client_id")  # names the offender


def test_the_same_toy_without_a_fault_is_clean(run_load):
    # control: the anomalies above come from the faults, not from the toy itself
    with RunningToy(ToyServer(None)) as toy:
        status, report = run_load("offline-burst", toy.url, *ARGS)
    assert report["convergence"]["anomalies"] == [] and status == 0
