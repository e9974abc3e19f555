"""The memory of the tool and of a spawned server over the run, read from /proc.

A soak is judged by its memory as much as by its throughput: the tool must stay bounded
(load/replica.py, load/journal.py) and the server's resident set should be flat once warm.
Samples are taken every ``every`` seconds through the whole run (load, settle, check)."""

from __future__ import annotations

import contextlib
import resource
import time
from pathlib import Path
from typing import Any

from load.periodic import periodically


def _status_mb(pid: int | str, field: str) -> float | None:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def tool_peak_mb() -> float:
    """The tool's peak resident set since it started (Linux reports ru_maxrss in kB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class MemoryLog:
    def __init__(self, server_pid: int | None = None, every: float = 2.0) -> None:
        self.server_pid = server_pid
        self.every = every
        self.started = time.monotonic()
        self.seconds: list[float] = []
        self.tool: list[float | None] = []
        self.server: list[float | None] = []
        self.marks: dict[str, float] = {}  # phase -> seconds since start

    def now(self) -> tuple[float | None, float | None]:
        server = _status_mb(self.server_pid, "VmRSS") if self.server_pid else None
        return _status_mb("self", "VmRSS"), server

    def sample(self) -> None:
        tool, server = self.now()
        self.seconds.append(round(time.monotonic() - self.started, 1))
        self.tool.append(tool)
        self.server.append(server)

    def mark(self, phase: str) -> None:
        """The end of a phase (load, settle, check): where a rise belongs."""
        self.sample()
        self.marks[phase] = self.seconds[-1]

    def sampling(self) -> contextlib.AbstractAsyncContextManager[None]:
        return periodically(self.every, self.sample)

    def to_json(self) -> dict[str, Any]:
        server_peak = _status_mb(self.server_pid, "VmHWM") if self.server_pid else None
        return {
            "tool_peak_rss_mb": tool_peak_mb(),
            "server_peak_rss_mb": server_peak,
            "sample_every_s": self.every,
            "phase_end_s": self.marks,
            "seconds": self.seconds,
            "tool_rss_mb": self.tool,
            "server_rss_mb": self.server if self.server_pid else None,
        }


def describe(log: MemoryLog | None) -> str:
    """For the progress line: the resident sets now."""
    if log is None:
        return ""
    tool, server = log.now()
    text = f"  tool {tool or 0:,.0f} MB"
    return text + (f"  server {server:,.0f} MB" if server is not None else "")

