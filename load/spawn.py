"""``--spawn``: start ``syncserver serve`` on a free loopback port with a temporary SQLite
file, for benchmarks and CI; stop it (by its own pid) when the run ends. spawn_auth: how
it authenticates the tool's clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from types import TracebackType
from typing import Self

from load.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(port: int, db: str, extra: list[str]) -> list[str]:
    # The tool's own interpreter and import path, not whichever `syncserver` is first on
    # PATH: run from a checkout (or a git worktree), the server is that checkout's code,
    # the same the tool and the tests import.
    return [sys.executable, "-m", "syncserver", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--db", db, *extra]


class SpawnedServer:
    def __init__(
        self,
        extra_args: list[str] | None = None,
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        db: str | None = None,
    ) -> None:
        """`db`: a database of the caller's (a SQLite file or a postgresql:// URL), left as
        it is afterwards; None: a new SQLite file, removed with the server's directory."""
        self.extra_args = extra_args or []
        self.db = db
        self.env = {**os.environ, **env} if env else None  # e.g. SYNCSERVER_JWT_SECRET
        self.startup_timeout = startup_timeout
        self.tmp = tempfile.TemporaryDirectory(prefix="syncserver-load-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.tmp.name, "server.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        db = self.db or os.path.join(self.tmp.name, "load.db")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            server_command(self.port, db, self.extra_args),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"syncserver exited with {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"syncserver did not become healthy: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                return log.read()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if hasattr(self, "_log"):
            self._log.close()
        self.tmp.cleanup()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 10 s; waits for it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_auth(
    server_args: list[str], settings: Settings
) -> tuple[list[str], dict[str, str]]:
    """With ``--token-secret``, the spawned server verifies the minted tokens: ``--auth jwt``
    (unless --server-args names an --auth) and the secret in SYNCSERVER_JWT_SECRET (in the
    environment, not on a command line that ``ps`` shows), with its per-user rate limit off
    (``--rate-limit 0``, unless --server-args sets one): a load client pushing without pause
    outruns a real user's budget, and the tool measures the server, not its limiter.
    Without it the tool sends no token, so the server runs ``--auth none`` (unless
    --server-args says how to authenticate): a server refuses to start with auth on and no
    key."""
    named = any(arg.split("=", 1)[0] in ("--auth", "--dev", "--jwt-secret", "--jwks")
                for arg in server_args)
    if not settings.token_secret:
        return (server_args if named else [*server_args, "--auth", "none"]), {}
    if not any(arg == "--auth" or arg.startswith("--auth=") for arg in server_args):
        server_args = [*server_args, "--auth", "jwt"]
    if not any(arg.split("=", 1)[0] == "--rate-limit" for arg in server_args):
        server_args = [*server_args, "--rate-limit", "0"]
    return server_args, {"SYNCSERVER_JWT_SECRET": settings.token_secret}
