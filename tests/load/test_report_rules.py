"""The report's rules: a partial last second is not drawn as a drop, the CPU split between
the tool and the server, and one meaning of "mutations" (new vs replayed) everywhere."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from load.glossary import ANSWERED, NEW, REPLAYED
from load.machine import NOT_MEASURED, CpuSample, cpu_sample, cpu_split, process_cpu_seconds
from load.stats import Stats, per_second
from tests.helpers import wait_for


def test_a_partial_last_second_of_under_half_a_second_is_dropped_not_drawn_as_a_drop():
    rates, note = per_second([100, 100, 30], end_s=2.3)
    assert rates == [100, 100]
    assert "0.3 s" in note and "left out" in note


def test_a_partial_last_second_of_half_a_second_or_more_is_scaled_to_a_rate():
    rates, note = per_second([100, 100, 60], end_s=2.6)
    assert rates == [100, 100, pytest.approx(100)]
    assert "0.6 s" in note and "scaled" in note


def test_whole_seconds_are_drawn_as_counted_and_quiet_seconds_stay_zero():
    assert per_second([100, 0, 100], end_s=3.0) == ([100, 0, 100], "")
    # a series that stopped early (the load phase ended) is padded with true zeros
    rates, note = per_second([100, 100], end_s=4.0)
    assert rates == [100, 100, 0, 0] and note == ""
    # padded up to a partial last second: the same rule, though its count is zero
    assert per_second([100], end_s=2.2)[0] == [100, 0]


def test_the_cpu_split_gives_each_sides_seconds_and_cores():
    split = cpu_split(CpuSample(10.0, 1.0, 5.0), CpuSample(14.0, 3.0, 11.0))
    assert split["wall_s"] == 4.0
    assert split["tool_cpu_s"] == 2.0 and split["tool_cores"] == 0.5
    assert split["server_cpu_s"] == 6.0 and split["server_cores"] == 1.5
    assert split["tool_share"] == 0.25


def test_an_external_servers_cpu_is_said_to_be_not_measured_not_zero():
    split = cpu_split(CpuSample(0.0, 0.0, None), CpuSample(2.0, 1.0, None))
    assert split["server_cpu_s"] is None and split["server_note"] == NOT_MEASURED
    assert cpu_sample(None).server is None


def test_cpu_time_of_the_tool_and_of_a_real_server_process_is_measured():
    # The child burns 0.6 s of CPU, then idles (alive, so that its CPU time can be read).
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 0.6\n"
                             "while time.process_time() < end: pass\ntime.sleep(30)"])
    try:
        before = cpu_sample(busy.pid)
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:  # the tool's own work
            pass
        wait_for(lambda: (process_cpu_seconds(busy.pid) or 0) >= 0.55, timeout=60,
                 what="the child burning its 0.6 s of CPU")
        split = cpu_split(before, cpu_sample(busy.pid))
    finally:
        busy.kill()
        busy.wait()
    assert split["tool_cpu_s"] >= 0.25
    assert split["server_cpu_s"] is not None and split["server_cpu_s"] >= 0.3
    assert process_cpu_seconds(busy.pid) is None  # gone: not a number


def test_new_and_replayed_mutations_add_up_to_the_mutations_answered():
    stats = Stats()
    stats.answered(first=50, total=50)
    stats.answered(first=3, total=10)  # a batch sent twice, seven already acknowledged
    assert stats.totals[NEW] == 53 and stats.totals[REPLAYED] == 7
    assert stats.totals[ANSWERED] == 60
