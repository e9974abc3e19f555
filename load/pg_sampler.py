"""The CPU timeline of a multi-instance benchmark (``python -m load.pg_instances``): every
0.2 s, the CPU seconds so far of each instance, of the PostgreSQL backends serving one
database, of the load tool, and each instance's cgroup throttling counters when it runs
under a CPU quota. ``between()`` cuts the timeline to the load tool's measured window."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

import psycopg

from load.cpu_quota import QuotaGroup, Throttling
from load.machine import process_cpu_seconds


class Sample(NamedTuple):
    when: float  # time.monotonic()
    instances: tuple[float, ...]  # CPU seconds of each instance so far
    postgres: float  # CPU seconds of the database's backends so far
    tool: float  # CPU seconds of the load tool so far
    throttling: tuple[Throttling | None, ...]  # each instance's cgroup, None without quota


class Window(NamedTuple):
    """CPU seconds (and throttling) of each process between two moments."""

    seconds: float
    instances: list[float]
    postgres: float
    tool: float
    throttling: list[Throttling | None]


class Sampler:
    """Runs in a thread from start() to finish(); pooled PostgreSQL connections open as they
    are needed, so the backends are looked up at every sample."""

    def __init__(self, admin: str, dbname: str, pids: Sequence[int],
                 groups: Sequence[QuotaGroup | None]) -> None:
        self.admin, self.dbname, self.pids, self.groups = admin, dbname, list(pids), list(groups)
        self.tool_pid: int | None = None  # set once the load tool runs
        self.last: dict[int, float] = {}
        self.postgres = 0.0
        self.tool = 0.0
        self.timeline: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.is_set():
                self.timeline.append(self._sample(conn))
                self._stop.wait(0.2)

    def _sample(self, conn: psycopg.Connection[tuple[int]]) -> Sample:
        backends = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,))]
        for pid in backends:  # a backend that closed keeps the CPU it had counted
            now = process_cpu_seconds(pid)
            if now is not None:
                self.postgres += now - self.last.get(pid, 0.0)
                self.last[pid] = now
        if self.tool_pid is not None:
            self.tool = process_cpu_seconds(self.tool_pid) or self.tool
        return Sample(
            time.monotonic(),
            tuple(process_cpu_seconds(pid) or 0.0 for pid in self.pids),
            self.postgres, self.tool,
            tuple(group.throttling() if group else None for group in self.groups))

    def between(self, start: float, end: float) -> Window:
        def at(t: float) -> Sample:
            before = [s for s in self.timeline if s.when <= t]
            return before[-1] if before else self.timeline[0]

        a, b = at(start), at(end)
        return Window(
            b.when - a.when,
            [y - x for x, y in zip(a.instances, b.instances, strict=True)],
            b.postgres - a.postgres, b.tool - a.tool,
            [y - x if x is not None and y is not None else None
             for x, y in zip(a.throttling, b.throttling, strict=True)])
