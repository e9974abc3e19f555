"""A real syncserver process on a free 127.0.0.1 port, for socket-level tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port free now. Free, not reserved: between this and the server's bind another
    process (a test on another pytest-xdist worker, any outgoing connection) may take it;
    ServerProcess.start then tries a new one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT_TRIES = 3  # starts on a fresh port when the one free_port gave was taken meanwhile
# A start costs ~2.5 s of CPU (imports, migrations): ~1.5 s alone, but up to 25 s measured on
# this 2-core machine while other work kept it at a load of 10. A bound on a start that
# never comes, not on its speed.
START_TIMEOUT = 60.0


# Settings that say how a server authenticates: a test that gives none of them gets
# `--auth none` (auth is on by default and would refuse to start without a key).
AUTH_ENV = ("SYNCSERVER_AUTH", "SYNCSERVER_DEV", "SYNCSERVER_JWT_SECRET", "SYNCSERVER_JWKS")
AUTH_FLAGS = ("--auth", "--dev", "--no-dev", "--jwt-secret", "--jwks")


def auth_args(env: dict[str, str], args: Sequence[str]) -> list[str]:
    given = any(name in env for name in AUTH_ENV) or \
        any(arg.split("=", 1)[0] in AUTH_FLAGS for arg in args)
    return [] if given else ["--auth", "none"]


class PortTaken(RuntimeError):
    """The server exited at start: its port was taken (the log's last lines)."""


class ServerProcess:
    def __init__(self, db: Path | str, port: int | None = None, demo: bool = False,
                 env: dict[str, str] | None = None, command: Sequence[str] | None = None,
                 cwd: Path = REPO, tls: ssl.SSLContext | None = None,
                 args: Sequence[str] = (), log: Path | None = None) -> None:
        """command: how to run `syncserver` (default: this interpreter's module, as the
        tests import it); cwd: where it runs (default: the repository); tls: the server
        serves HTTPS (its certificate and key given in `env`), and this client context
        trusts its certificate; args: more `serve` flags (e.g. `--dev`). Without auth
        settings in `env` or `args` the server runs `--auth none`. db: a SQLite file, or a
        postgresql:// URL (give `log` then: where the server's output goes)."""
        self.db = db
        self.port = port or free_port()
        self.own_port = port is None  # chosen here: another may be tried (start)
        self.demo = demo
        self.env = env or {}
        self.args = [*args, *auth_args(self.env, args)]
        self.command = list(command or [sys.executable, "-m", "syncserver"])
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log or Path(db).with_suffix(f".{self.port}.log")
        self.tls = tls

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/v1/ws"

    def start(self, timeout: float = START_TIMEOUT) -> "ServerProcess":
        for _ in range(PORT_TRIES - 1):
            try:
                return self._start(timeout)
            except PortTaken:
                if not self.own_port:
                    raise
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> "ServerProcess":
        env = {**os.environ, "SYNCSERVER_LOG_LEVEL": "warning", **self.env}
        args = [*self.command, "serve", "--db", str(self.db),
                "--port", str(self.port), "--demo" if self.demo else "--no-demo", *self.args]
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(args, cwd=self.cwd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.log.read_text()[-2000:]
                if f"port {self.port} on " in said and "is in use" in said:
                    raise PortTaken(said)
                raise RuntimeError(f"server exited: {said}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1,
                             verify=self.tls or True).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()  # left running, it would outlive the test
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def serving(db: Path | str, env: dict[str, str] | None = None, log: Path | None = None
            ) -> Iterator[httpx.Client]:
    """A server on `db`, started for the block and stopped after it, and an HTTP client of it
    (`log`: where its output goes; needed for a postgresql:// URL)."""
    server = ServerProcess(db, env=env, log=log).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()
