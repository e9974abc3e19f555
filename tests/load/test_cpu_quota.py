"""The CPU quota of ``python -m load.pg_instances --cpu-quota``: a real server in a real
cgroup, driven by the load tool, is held to its quota (the kernel throttled it, its CPU rate
stayed at the quota), and the cgroup is gone afterwards, also after an error. Needs a
writable cgroup cpu controller (root): skipped, with the reason, without one."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from load import pg_instances
from load.cpu_quota import PREFIX, CgroupUnavailable, CpuQuotas, QuotaGroup, probe
from load.machine import process_cpu_seconds
from load.spawn import SpawnedServer

QUOTA = 0.1  # CPU: well under what a pushed-at server takes, so the quota must bind


@pytest.fixture(autouse=True)
def writable_cgroups() -> None:
    try:
        probe(QUOTA)
    except CgroupUnavailable as exc:
        pytest.skip(f"cgroups not writable here: {exc}")


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    """A process that would use a whole core."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.kill()
    proc.wait()


def own_cgroup_procs(group: QuotaGroup) -> list[int]:
    return [int(x) for x in (group.path.parent / "cgroup.procs").read_text().split()]


def test_a_pushed_at_server_is_held_to_its_quota_and_its_cgroup_removed(run_load):
    with SpawnedServer(["--auth", "none", "--no-demo"]) as server:
        assert server.proc is not None
        pid = server.proc.pid
        with CpuQuotas(QUOTA) as quotas:
            group = quotas.confine(pid)
            assert group.pids() == [pid]
            before, throttling_before, started = (process_cpu_seconds(pid),
                                                  group.throttling(), time.monotonic())
            status, report = run_load(
                "steady", server.url, "--duration", "3", "--settle-timeout", "30",
                "--clients", "4", "--spaces", "4", "--batch-size", "200", "--pull-every", "0",
                "--ws-ratio", "0")
            after, elapsed = process_cpu_seconds(pid), time.monotonic() - started
            throttled = group.throttling() - throttling_before
        assert status == 0 and report["convergence"]["verdict"] == "clean"
        assert before is not None and after is not None
        rate = (after - before) / elapsed
        # the kernel stopped it for the rest of many periods, and over the run (load and
        # convergence check) it got no more than its quota (CPU ticks: 10 ms granularity)
        assert throttled.throttled > 0 and throttled.throttled_s > 0, throttled
        assert throttled.share > 0.3, throttled
        assert rate <= QUOTA * 1.25 + 0.02, rate
        # the group is gone, the server runs on, outside it, in the parent group
        assert not group.path.exists()
        assert server.proc.poll() is None and pid in own_cgroup_procs(group)


def test_the_cgroups_go_on_an_error_and_the_process_leaves_them(busy_child):
    with pytest.raises(KeyboardInterrupt), CpuQuotas(QUOTA) as quotas:
        groups = [quotas.confine(busy_child.pid)]
        raise KeyboardInterrupt  # Ctrl-C in the middle of a run
    assert not groups[0].path.exists()
    assert busy_child.poll() is None and busy_child.pid in own_cgroup_procs(groups[0])


def test_a_killed_runs_leftover_cgroups_are_removed_on_the_next_start():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid no longer alive: a run killed outright (SIGKILL)
    stale = probe(QUOTA).base / f"{PREFIX}-{gone.pid}-0"
    stale.mkdir()
    try:
        with CpuQuotas(QUOTA):
            assert not stale.exists()
    finally:
        if stale.exists():
            stale.rmdir()


def test_a_quota_the_kernel_refuses_stops_the_runner_before_it_starts_anything(capsys):
    # an unreachable database: a runner that went on would fail there, not return 2
    status = pg_instances.main(["--cpu-quota", "0.005", "--only", "push",
                                "--admin", "postgresql://postgres@127.0.0.1:1/postgres"])
    assert status == 2
    assert "below the kernel's minimum" in capsys.readouterr().err
