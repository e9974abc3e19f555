"""The server at its file-descriptor limit: it raises its soft limit as far as allowed, says
at start when its connection settings cannot be reached under the limit, and, holding as
many connections as the limit allows, answers a further client `503 server_busy` at once
instead of falling silent (before: accept() failed with EMFILE and new clients waited
for ever). An --max-open-connections that cannot fit is refused at start."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from syncserver.ops.fdlimit import RESERVE
from tests.helpers import wait_for
from tests.server import REPO, START_TIMEOUT, ServerProcess, free_port

LIMIT = 256  # the server's hard limit in these tests (soft and hard)


def _limited(limit: int) -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class LimitedServer(ServerProcess):
    """A server started with RLIMIT_NOFILE at `limit`, soft and hard."""

    def __init__(self, db: Path, limit: int, env: dict[str, str] | None = None) -> None:
        super().__init__(db, env=env)
        self.limit = limit

    def start(self, timeout: float = START_TIMEOUT) -> LimitedServer:
        real = subprocess.Popen

        def popen(*args, **kwargs):  # type: ignore[no-untyped-def]
            return real(*args, preexec_fn=lambda: _limited(self.limit), **kwargs)

        subprocess.Popen = popen  # type: ignore[misc]
        try:
            super().start(timeout)
        finally:
            subprocess.Popen = real  # type: ignore[misc]
        return self


def _sockets(pid: int) -> int:
    """The sockets a process holds open (its listening socket among them)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed meanwhile
            pass
    return count


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LimitedServer]:
    server = LimitedServer(tmp_path / "sync.db", LIMIT).start()
    yield server
    server.stop()


def test_the_server_says_at_start_what_its_descriptor_limit_allows(limited):
    log = limited.log.read_text()
    assert "file-descriptor limit" in log and f"{LIMIT - 64}" in log, log
    assert "--max-connections 10000" in log


def test_at_its_descriptor_limit_the_server_answers_busy_instead_of_falling_silent(limited):
    held: list[socket.socket] = []
    try:
        # Idle connections (as a slowloris would hold them) up to and past what the limit
        # allows; each is answered or held, none is left unanswered.
        for _ in range(LIMIT + 50):
            s = socket.create_connection(("127.0.0.1", limited.port), timeout=5)
            held.append(s)
        assert limited.proc is not None
        wait_for(lambda: _sockets(limited.proc.pid) > LIMIT - RESERVE,  # and its listener
                 what=f"the server holding {LIMIT - RESERVE} connections, all it may")
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = s.recv(65536)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert took < 2, f"answered after {took:.1f}s"
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"retry-after: 5" in head.lower() and b"nosniff" in head
        assert orjson.loads(body)["code"] == "server_busy"
    finally:
        for s in held:
            s.close()
    # Once they are gone, everyone is served again.
    wait_for(lambda: _healthy(limited.url), interval=0.2,
             what="/healthz served again after the connections closed")


def test_an_open_connection_limit_beyond_the_descriptor_limit_is_refused_at_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "syncserver", "serve", "--db", str(tmp_path / "s.db"),
         "--port", str(free_port()), "--max-open-connections", "5000"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
        env={**os.environ, "SYNCSERVER_AUTH": "none"},
        preexec_fn=lambda: _limited(LIMIT))
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "--max-open-connections 5000" in line and "ulimit -n" in line, line
    assert "Traceback" not in result.stderr


def test_the_soft_limit_is_raised_to_the_hard_one(tmp_path):
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 300:
        pytest.skip(f"this machine's hard limit ({hard}) leaves nothing to raise")
    server = ServerProcess(tmp_path / "sync.db")
    real = subprocess.Popen

    def popen(*args, **kwargs):  # type: ignore[no-untyped-def]
        keep = 300 if hard == resource.RLIM_INFINITY else hard
        return real(*args, preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (256, keep)), **kwargs)

    subprocess.Popen = popen  # type: ignore[misc]
    try:
        server.start()
    finally:
        subprocess.Popen = real  # type: ignore[misc]
    try:
        assert server.proc is not None
        limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert int(line.split()[3]) > 256, line
    finally:
        server.stop()
