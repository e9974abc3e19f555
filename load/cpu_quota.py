"""CPU quotas for benchmark processes: one cgroup per process, each allowed the same share of
a CPU (``--cpu-quota 0.2``: 20 ms of CPU in every 100 ms period), removed at the end.

On a 2-core machine, instances that may each use a core cannot show scale-out: the cores
run out first. Held to a fifth of a core each, instances are bound by their own quota, not
by the machine, while PostgreSQL and the load tool (outside every quota) keep the rest.

cgroup v1's ``cpu`` hierarchy (``cpu.cfs_period_us`` / ``cpu.cfs_quota_us``) is used when it
is mounted; otherwise cgroup v2's ``cpu.max``. Creating cgroups needs root (or a delegated
subtree). ``cpu.stat`` says how often the kernel throttled the group: a group that was
throttled in most periods was bound by its quota.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

PERIOD_US = 100_000  # the kernel's default CFS period
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller quota
PREFIX = "syncserver-quota"
HOW_TO_FIX = (
    "Run as root on a machine with cgroup v1's cpu controller (as root: "
    "mkdir -p /sys/fs/cgroup/cpu && mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu) or "
    "cgroup v2 with the cpu controller available at its root, or run without --cpu-quota."
)


class CgroupUnavailable(RuntimeError):
    """No writable cgroup cpu controller: the message says what to do."""


@dataclass(frozen=True)
class Throttling:
    """A group's cpu.stat: CFS periods in which it ran, in how many the quota stopped it,
    and for how long in total."""

    periods: int
    throttled: int
    throttled_s: float

    def __sub__(self, earlier: Throttling) -> Throttling:
        return Throttling(self.periods - earlier.periods, self.throttled - earlier.throttled,
                          self.throttled_s - earlier.throttled_s)

    @property
    def share(self) -> float:
        """Of the periods it ran in, the share in which the quota stopped it."""
        return self.throttled / self.periods if self.periods else 0.0


@dataclass(frozen=True)
class Hierarchy:
    version: Literal[1, 2]
    base: Path  # the folder our groups are created in


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, super options) of each cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        fstype, _source, options = [*tail.split(), "", ""][:3]
        if fstype in ("cgroup", "cgroup2"):
            found.append((fields.split()[4], fstype, set(options.split(","))))
    return found


def _own_path(version: Literal[1, 2]) -> str:
    """This process's cgroup path in the v1 cpu hierarchy or in the v2 one."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if (version == 2 and controllers == "") or (
                version == 1 and "cpu" in controllers.split(",")):
            return path
    return "/"


def find_hierarchy() -> Hierarchy:
    """The cgroup hierarchy that holds the cpu controller, or CgroupUnavailable."""
    try:
        mounts = _mounts()
    except OSError as exc:
        raise CgroupUnavailable(f"cannot read /proc/self/mountinfo ({exc}). {HOW_TO_FIX}") from None
    for point, fstype, options in mounts:
        if fstype == "cgroup" and "cpu" in options:
            # beside our own group, so a container's limits still apply above it
            own = Path(point) / _own_path(1).lstrip("/")
            return Hierarchy(1, own if own.is_dir() else Path(point))
    for point, fstype, _options in mounts:
        controllers = Path(point) / "cgroup.controllers"
        if fstype == "cgroup2" and controllers.exists() and (
                "cpu" in controllers.read_text().split()):
            # v2 keeps processes in leaves only: our groups go at the root, which may hold
            # processes and hand the cpu controller to its children
            return Hierarchy(2, Path(point))
    raise CgroupUnavailable(
        "no cgroup cpu controller is mounted (neither cgroup v1's cpu hierarchy nor cgroup "
        f"v2 with cpu in its cgroup.controllers). {HOW_TO_FIX}")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:  # one write() per value, as the kernel expects
        f.write(value)


class QuotaGroup:
    """One cgroup with a CPU quota. add() moves a process (all its threads; threads it starts
    later stay in the group)."""

    def __init__(self, hierarchy: Hierarchy, name: str, cpus: float,
                 period_us: int = PERIOD_US) -> None:
        quota_us = round(cpus * period_us)
        if quota_us < MIN_QUOTA_US:
            raise ValueError(f"a quota of {cpus} CPU is below the kernel's minimum "
                             f"({MIN_QUOTA_US} us per {period_us} us period)")
        self.hierarchy, self.cpus = hierarchy, cpus
        self.path = hierarchy.base / name
        try:
            if hierarchy.version == 2:
                _write(hierarchy.base / "cgroup.subtree_control", "+cpu")
            self.path.mkdir()
            if hierarchy.version == 1:
                _write(self.path / "cpu.cfs_period_us", str(period_us))
                _write(self.path / "cpu.cfs_quota_us", str(quota_us))
            else:
                _write(self.path / "cpu.max", f"{quota_us} {period_us}")
        except OSError as exc:
            self.remove()
            raise CgroupUnavailable(
                f"cannot create the cgroup {self.path} with a CPU quota "
                f"({exc.strerror or exc}). {HOW_TO_FIX}") from None

    def add(self, pid: int) -> None:
        _write(self.path / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def throttling(self) -> Throttling:
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        if "throttled_usec" in stat:  # v2
            throttled_s = int(stat["throttled_usec"]) / 1e6
        else:  # v1: nanoseconds
            throttled_s = int(stat.get("throttled_time", 0)) / 1e9
        return Throttling(int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0)),
                          throttled_s)

    def remove(self, timeout: float = 5.0) -> None:
        """Move any process still inside back to the parent, then delete the group (the kernel
        refuses while a task is inside; a task that just exited can linger briefly)."""
        deadline = time.monotonic() + timeout
        while self.path.exists():
            for pid in self.pids():
                try:
                    _write(self.path.parent / "cgroup.procs", str(pid))
                except OSError:
                    pass  # exited meanwhile
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def probe(cpus: float) -> Hierarchy:
    """Create and remove one group with this quota: CgroupUnavailable (or ValueError for a
    quota the kernel refuses) before a benchmark starts anything, not halfway through."""
    hierarchy = find_hierarchy()
    QuotaGroup(hierarchy, f"{PREFIX}-{os.getpid()}-probe", cpus).remove()
    return hierarchy


class CpuQuotas:
    """``with CpuQuotas(0.2) as quotas: quotas.confine(pid)``: a group per process, the same
    quota each, every group removed on the way out (also on an error or Ctrl-C). Groups
    left by a run that was killed outright (its pid in their name, no longer alive) are
    removed on the way in."""

    def __init__(self, cpus: float, period_us: int = PERIOD_US) -> None:
        self.cpus, self.period_us = cpus, period_us
        self.groups: list[QuotaGroup] = []
        self.hierarchy: Hierarchy | None = None

    def __enter__(self) -> Self:
        self.hierarchy = find_hierarchy()
        self._remove_stale()
        return self

    def confine(self, pid: int) -> QuotaGroup:
        assert self.hierarchy is not None, "use CpuQuotas as a context manager"
        name = f"{PREFIX}-{os.getpid()}-{len(self.groups)}"
        group = QuotaGroup(self.hierarchy, name, self.cpus, self.period_us)
        self.groups.append(group)
        try:
            group.add(pid)
        except OSError as exc:
            raise CgroupUnavailable(
                f"cannot move process {pid} into {group.path} ({exc.strerror or exc}). "
                f"{HOW_TO_FIX}") from None
        return group

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        problems = []
        for group in self.groups:
            try:
                group.remove()
            except OSError as error:
                problems.append(f"{group.path}: {error}")
        self.groups.clear()
        if problems and kind is None:
            raise RuntimeError("cgroups left behind (remove with rmdir): " + "; ".join(problems))

    def _remove_stale(self) -> None:
        assert self.hierarchy is not None
        for path in self.hierarchy.base.glob(f"{PREFIX}-*-*"):
            owner = path.name.removeprefix(PREFIX + "-").split("-")[0]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                try:
                    path.rmdir()
                except OSError:
                    pass  # still holds a process: not ours to move
