"""Open connections against the file-descriptor limit (docs/deployment.md).

Every connection holds a file descriptor. At the process's limit (`ulimit -n`, often 1,024)
the server can accept nobody and new clients get no answer at all. So at start the soft
limit is raised as far as the hard limit allows, a reserve is kept for what is not a
client (the listening socket, the database and its WAL files, the log), and the server
answers `503 server_busy` to connections past what is left (timeouts.OpenConnections)."""

from __future__ import annotations

import resource
from typing import NamedTuple

from ..config.settings import Settings
from ..config.startup import StartupError

RESERVE = 64  # descriptors kept for the listening socket, SQLite's files, logs, threads
HIGHEST = 1_048_576  # the kernel's usual nr_open: a soft limit above it is refused


def raise_soft_limit() -> tuple[int, int]:
    """The soft limit raised to the hard one (as far as the kernel allows): (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = HIGHEST if hard == resource.RLIM_INFINITY else hard
    for wanted in (target, min(target, HIGHEST), 65_536, 4_096):
        if soft == resource.RLIM_INFINITY or soft >= wanted:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Capacity(NamedTuple):
    connections: int  # client connections held open at once
    warning: str | None  # a connection setting the limit does not let the server reach


def connection_capacity(settings: Settings) -> Capacity:
    """How many client connections the server holds at once, and a warning line when a
    connection setting cannot be reached; StartupError when an explicit
    --max-open-connections does not fit the limit."""
    soft, hard = raise_soft_limit()
    limit = HIGHEST if soft == resource.RLIM_INFINITY else soft
    room = limit - RESERVE
    shown = "unlimited" if hard == resource.RLIM_INFINITY else f"{hard:,}"
    if settings.max_open_connections:
        if settings.max_open_connections > room:
            raise StartupError(
                f"--max-open-connections {settings.max_open_connections} needs "
                f"{settings.max_open_connections + RESERVE:,} file descriptors (a reserve of "
                f"{RESERVE} for the database and the listening socket), and this process may "
                f"open {limit:,} (ulimit -n; hard limit {shown}): raise the limit "
                "(LimitNOFILE= in a systemd unit, ulimit -n) or lower "
                "--max-open-connections")
        return Capacity(settings.max_open_connections, None)
    if room < 16:
        raise StartupError(f"this process may open only {limit} file descriptors (ulimit -n): "
                           f"the server needs {RESERVE + 16} at least; raise the limit")
    if settings.max_connections + settings.max_long_polls > room:
        return Capacity(room, (
            f"the file-descriptor limit (ulimit -n {limit:,}, hard limit {shown}) allows "
            f"{room:,} client connections at once: past them new connections get 503 "
            f"server_busy, so --max-connections {settings.max_connections} and "
            f"--max-long-polls {settings.max_long_polls} cannot both be reached; raise the "
            "limit to serve more (docs/deployment.md)"))
    return Capacity(room, None)
