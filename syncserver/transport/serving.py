"""Running the app under uvicorn: the listening socket is bound before the server says it
serves (a port in use is one line naming --port), and a stop (SIGTERM, SIGINT) ends open
long-polls and WebSockets at once instead of waiting for them (docs/deployment.md)."""

from __future__ import annotations

import ctypes
import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn

from ..config.startup import StartupError

if TYPE_CHECKING:
    from ..core.service import SyncService

# How long open WebSockets get to receive their 1001 close before uvicorn's own shutdown
# (which closes what is left with 1012), and how long requests still running after that
# (a push being committed) get before they are cancelled.
GOODBYE_SECONDS = 1.0
GRACEFUL_SECONDS = 5


def tune_allocator() -> None:
    """glibc's malloc, told to hand large buffers back to the system when they are freed.
    By default it raises its mmap threshold after each large free (up to 32 MB), so the
    pages and frames of a burst (MBs each) are carved from heap arenas, one per reader
    thread, which keep the memory afterwards: measured with load/hostile.py, about
    150 MB more resident memory after 1,000 slow readers of 4 MB pages."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): its allocator, its rules
        return
    m_mmap_threshold, m_arena_max = -3, -8
    libc.mallopt(m_mmap_threshold, 131_072)  # fixed: no dynamic raise
    libc.mallopt(m_arena_max, 4)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a StartupError saying what to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise StartupError(f"--host {host} is not an address of this machine "
                           f"({exc.strerror}): use an IP address such as 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is in use (another server?): stop it, "
                               "or choose another --port / SYNCSERVER_PORT") from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"port {port} needs privileges this process lacks: choose "
                               "--port 1024 or above, and put a proxy in front") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise StartupError(f"--host {host} is not an address of this machine: use one "
                               "of its addresses, 127.0.0.1 or 0.0.0.0") from None
        raise StartupError(f"cannot listen on {host}:{port} ({exc.strerror}): check --host "
                           "and --port") from None
    sock.set_inheritable(True)
    return sock


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with the application told first when it stops. Left to itself,
    uvicorn waits for every open request to end (a long-poll: up to --max-wait seconds)
    and closes WebSockets with 1012; here long-polls answer at once and WebSockets are
    closed with 1001 (going away), then uvicorn's shutdown runs as usual (pushes being
    committed finish, the lifespan closes storage). `on_started` runs once the app has
    started and the server listens."""

    def __init__(self, config: uvicorn.Config, service: SyncService,
                 on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.service = service
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_started is not None and not self.should_exit:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in getattr(self, "servers", []):
            server.close()  # no new connections while the open ones are ended
        await self.service.shutdown(GOODBYE_SECONDS)
        await super().shutdown(sockets)
