"""Where a run ran and who used the CPU: the machine (CPU model, cores, memory, Python, OS)
and the CPU time of the tool and of the server over the run.

Tool and server usually share the machine (a 2-core one here), so a throughput figure means
little without knowing which side ran out of CPU first: the report shows both side by side.
The tool's own time comes from ``os.times()``; a spawned server's from ``/proc/PID/stat``
(all its threads, and children it has waited for). An external server's CPU cannot be read
from here: the report says so rather than showing a zero.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_MEASURED = "external server: not measured"


@dataclass(frozen=True)
class CpuSample:
    wall: float  # time.monotonic()
    tool: float  # CPU seconds (user + system) of this process
    server: float | None  # CPU seconds of the server process, None when not measurable


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (and its waited-for children), or None."""
    try:
        # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    except (OSError, ValueError, IndexError):
        return None
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def cpu_sample(server_pid: int | Sequence[int] | None) -> CpuSample:
    """server_pid: the server's process, or several (instances), whose CPU is summed."""
    times = os.times()
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid or ())
    seconds = [process_cpu_seconds(pid) for pid in pids]
    server = None if not pids or None in seconds else sum(s or 0.0 for s in seconds)
    return CpuSample(time.monotonic(), times.user + times.system, server)


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, Any]:
    """CPU seconds of each side between two samples, and the cores each kept busy on average
    (CPU seconds / wall seconds: 1.0 is one core all the time)."""
    wall = max(after.wall - before.wall, 1e-9)
    tool = max(after.tool - before.tool, 0.0)
    split: dict[str, Any] = {
        # CLOCK_MONOTONIC is the machine's: a script that samples other processes (e.g.
        # PostgreSQL's) can cut its own figures to the same window
        "monotonic": [round(before.wall, 3), round(after.wall, 3)],
        "wall_s": round(wall, 3),
        "tool_cpu_s": round(tool, 3),
        "tool_cores": round(tool / wall, 3),
    }
    if before.server is None or after.server is None:
        split.update(server_cpu_s=None, server_cores=None, server_note=NOT_MEASURED)
        return split
    server = max(after.server - before.server, 0.0)
    split.update(
        server_cpu_s=round(server, 3),
        server_cores=round(server / wall, 3),
        # of the CPU the two used together, the tool's part
        tool_share=round(tool / (tool + server), 3) if tool + server > 0 else None,
    )
    return split


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return None


def machine_info() -> dict[str, Any]:
    """The machine the tool runs on (a spawned server runs there too)."""
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "memory_bytes": _memory_bytes(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "os": platform.platform(),
        # other work on the machine skews figures: how busy it was when the run began
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
