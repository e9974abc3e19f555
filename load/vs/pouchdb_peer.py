"""The PouchDB Server of ``python -m load vs pouchdb``: installed once with npm into a cache
directory outside the repository, started in memory on a free loopback port for a run.

Why a committed package.json and package-lock.json (load/peers/pouchdb/) installed with
``npm ci`` into ``~/.cache/syncserver-load/`` rather than a ``npm install pouchdb-server``
at run time: pouchdb-server 4.2.0 asks for its PouchDB modules by ranges (``^7.0.0``), so
only a lock file pins the whole tree (354 packages) and makes two machines measure the same
peer; the install outside the repository leaves worktrees and clean clones untouched (no
node_modules to ignore or to copy into a wheel) and is shared by them. The directory is
named after the lock file's hash: a changed lock installs beside the old one, never over it.

``--ignore-scripts``: no package's install script runs. The two that have one are not
needed in memory (sqlite3, for ``--sqlite``) or find their binary without it (leveldown
ships prebuilt ones), and a script that downloads a binary would fail on a machine that
reaches only the npm registry."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from load.spawn import free_port, stop_process

VERSION = "4.2.0"
PACKAGE = Path(__file__).resolve().parent.parent / "peers" / "pouchdb"
DONE = ".installed"  # written last: a directory without it is a broken install
MISSING_NPM = (
    "the PouchDB side needs Node.js (18 or later) and npm, and `{tool}` is not on PATH: "
    "install them (Debian/Ubuntu: apt-get install nodejs npm), or measure syncserver "
    "alone with --sides syncserver"
)


class PeerError(Exception):
    """The peer could not be installed or started; the message says what to do."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "syncserver-load"


def install_dir(root: Path | None = None) -> Path:
    lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()[:12]
    return (root or cache_root()) / f"pouchdb-server-{VERSION}-{lock}"


def entry_point(directory: Path) -> Path:
    return directory / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"


def _check_tools() -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise PeerError(MISSING_NPM.format(tool=tool))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One install at a time per directory (two runs started together would otherwise
    both write node_modules)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(say: Callable[[str], None], root: Path | None = None) -> Path:
    """The installed peer's directory: installed now if it is not yet (npm ci, with a
    running count of the packages fetched)."""
    _check_tools()
    directory = install_dir(root)
    if (directory / DONE).exists() and entry_point(directory).exists():
        return directory
    with _locked(directory):
        if (directory / DONE).exists() and entry_point(directory).exists():
            return directory  # another run installed it while this one waited
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE / name, directory / name)
        say(f"installing pouchdb-server {VERSION} into {directory} (once; npm ci, 30 s with "
            "a warm npm cache, a few minutes without)")
        _npm_ci(directory, say)
        if not entry_point(directory).exists():
            raise PeerError(f"npm ci finished but {entry_point(directory)} is missing")
        (directory / DONE).write_text(VERSION + "\n")
    return directory


def _npm_ci(directory: Path, say: Callable[[str], None]) -> None:
    command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund",
               "--loglevel=http"]
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=25)
    fetched, shown = 0, 0.0
    # `with`: its pipe is closed when npm is done (left open, a ResourceWarning in the tests)
    with subprocess.Popen(command, cwd=directory, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            if "http fetch" in line:
                fetched += 1
            if time.monotonic() - shown > 2:
                shown = time.monotonic()
                say(f"  npm ci: {fetched} packages and manifests fetched, "
                    f"{shown - started:.0f} s")
    if proc.returncode != 0:
        log = "\n".join(tail)
        raise PeerError(f"npm ci failed (exit {proc.returncode}) in {directory}; its last "
                        f"lines:\n{log}\nCheck that the npm registry is reachable (npm "
                        "config get registry), then run again")
    say(f"  npm ci: done in {time.monotonic() - started:.0f} s")


@dataclass
class PouchdbServer:
    """``pouchdb-server --in-memory`` on a free loopback port, in a temporary directory of
    its own (its config.json and log.txt go there), stopped by its own pid at the end.

    Request logging is off, as syncserver's is by default (its ``--access-log``): the
    config sets ``log.level`` to ``warning`` and ``-n`` stops the copy of the log to
    stdout, so neither side writes a line per request."""

    directory: Path
    startup_timeout: float = 60.0

    def __post_init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="syncserver-load-pouchdb-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> PouchdbServer:
        config = Path(self.tmp.name) / "config.json"
        config.write_bytes(orjson.dumps({"log": {"level": "warning"}}))
        self._log = open(Path(self.tmp.name) / "stdout.log", "wb")
        self.proc = subprocess.Popen(
            ["node", str(entry_point(self.directory)), "--in-memory", "--host", "127.0.0.1",
             "--port", str(self.port), "--config", str(config), "-n", "--no-color"],
            cwd=self.tmp.name, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.__exit__()
                raise PeerError(f"pouchdb-server exited with {self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as answer:
                    self.info = orjson.loads(answer.read())
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise PeerError(f"pouchdb-server did not answer within {self.startup_timeout:.0f} s")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log_tail(self, size: int = 2000) -> str:
        try:
            return (Path(self.tmp.name) / "stdout.log").read_bytes()[-size:].decode(
                "utf-8", "replace")
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if hasattr(self, "_log"):
            self._log.close()
        self.tmp.cleanup()
