"""Histogram percentiles, and the report files a person and CI read."""

from __future__ import annotations

import orjson

from load.checker import Verdict
from load.hlc import HLC, parse_hlc
from load.merge import merge_patch
from load.report import build_report, write_reports
from load.settings import Settings
from load.stats import Histogram, Stats


def test_histogram_percentiles_are_within_one_percent():
    h = Histogram()
    for i in range(1, 10_001):
        h.add(i / 1000)  # 1 ms .. 10 s, uniform
    for p in (50, 95, 99):
        assert abs(h.percentile(p) - p / 10) <= 0.011 * p / 10
    assert h.max == 10.0 and h.count == 10_000


def test_report_json_and_html_hold_figures_verdict_and_charts(tmp_path):
    stats = Stats()
    for ms in (1, 2, 3, 50):
        stats.observe("push", ms / 1000)
    stats.answered(first=500, total=500)
    stats.error("push_http_500", "boom")
    verdict = Verdict()
    verdict.add("missing_record", record="sp/todos/t1")
    settings = Settings(scenario="steady", urls=["http://127.0.0.1:1"], token="secret")
    report = build_report(settings, stats, verdict, {"version": "0.1.0"})
    json_path, html_path = write_reports(report, stats, tmp_path)
    data = orjson.loads(json_path.read_bytes())
    assert data["results"]["latency_ms"]["push"]["max_ms"] == 50.0
    assert data["results"]["errors"] == {"push_http_500": 1}
    assert data["convergence"]["ok"] is False
    assert data["settings"]["token"] == "***"
    html = html_path.read_text()
    assert html.count("<svg") == 2 and "missing_record" in html and "sp/todos/t1" in html


def test_hlc_stamps_sort_in_clock_order():
    clock = HLC("c-1")
    stamps = [clock.stamp() for _ in range(50)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 50
    clock.observe("9999999999999:00003:other")
    assert parse_hlc(clock.stamp())[:2] == (9999999999999, 4)


def test_merge_patch_follows_rfc_7396():
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == {
        "a": "z",
        "c": {"d": "e"},
    }
    assert merge_patch(None, {"a": 1}) == {"a": 1}


def test_merge_patch_applies_increments():
    assert merge_patch({"n": 2}, {"n": {"$inc": 3}, "m": {"$inc": 1}}) == {"n": 5, "m": 1}
    assert merge_patch({"n": "x"}, {"n": {"$inc": 1}}) == {"n": 1}


def test_the_html_report_says_an_external_servers_cpu_is_not_measured(tmp_path):
    from load.machine import CpuSample, cpu_split, machine_info

    stats = Stats()
    stats.answered(first=10, total=12)
    split = cpu_split(CpuSample(0.0, 0.0, None), CpuSample(2.0, 0.5, None))
    stats.extra.update(machine=machine_info(), cpu={"load_phase": split, "whole_run": split})
    settings = Settings(scenario="steady", urls=["http://127.0.0.1:1"], seed=5)
    report = build_report(settings, stats, Verdict(), {}, {"kind": "external",
                                                           "urls": settings.urls})
    html = write_reports(report, stats, tmp_path)[1].read_text()
    assert "external server: not measured" in html and "0.50 s (0.25 cores)" in html
    assert "external (--url): http://127.0.0.1:1" in html
    assert "<td class='text'>seed</td><td class='text'>5</td>" in html
