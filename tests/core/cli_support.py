"""Running the real `syncserver` command as a subprocess, as an operator would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

from tests.server import REPO, START_TIMEOUT, auth_args

# Root ignores file permissions; these capabilities are dropped so that an unwritable path
# is unwritable for the command under test too (setpriv is part of util-linux).
NO_DAC = "-dac_override,-dac_read_search"


def syncserver_command() -> list[str]:
    # `python -m syncserver` (what the `syncserver` script runs) from the repository, so
    # the code under test is this checkout's even when another one is installed.
    return [sys.executable, "-m", "syncserver"]


def run_syncserver(args: Sequence[str], env: Mapping[str, str] | None = None,
                   timeout: float = START_TIMEOUT, unprivileged: bool = False
                   ) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (`timeout`: a bound on one that never ends, as the
    server's start in tests/server.py). `unprivileged`: without root's right to ignore file
    permissions (a no-op when the tests do not run as root)."""
    command = syncserver_command()
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file rights"
        command = [setpriv, f"--bounding-set={NO_DAC}", f"--inh-caps={NO_DAC}", "--",
                   *command]
    full_env = {**os.environ, "SYNCSERVER_LOG_LEVEL": "warning", **(env or {})}
    if args and args[0] == "serve":  # auth is on by default: these tests are about other things
        args = [*args, *auth_args(dict(env or {}), args)]
    return subprocess.run([*command, *args], check=False, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=full_env)


def assert_one_line_failure(done: subprocess.CompletedProcess[str], *needles: str,
                            status: int | None = None) -> str:
    """A start-up failure as the operator sees it: a non-zero status, one line on stderr
    with every needle in it, no traceback, and nothing served."""
    message = done.stderr.strip()
    assert done.returncode != 0, f"the command succeeded: {done.stdout}{done.stderr}"
    if status is not None:
        assert done.returncode == status, (done.returncode, message)
    assert "\n" not in message, f"more than one line:\n{message}"
    assert "Traceback" not in message and "serving" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message
