"""Auth settings fail at start with one line naming the flag and the variable."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.server import REPO


def _serve(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncserver", "serve", "--db",
                           str(tmp_path / "s.db"), "--port", "1", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "SYNCSERVER_JWT_SECRET": ""}, check=False)


def test_auth_jwt_without_a_key_does_not_start(tmp_path):
    done = _serve(tmp_path, "--auth", "jwt")
    assert done.returncode == 2
    assert "SYNCSERVER_JWT_SECRET" in done.stderr and "SYNCSERVER_JWKS" in done.stderr
    assert not (tmp_path / "s.db").exists()


def test_a_missing_jwks_file_and_an_unknown_auth_mode_do_not_start(tmp_path):
    missing = _serve(tmp_path, "--auth", "jwt", "--jwks", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "--jwks / SYNCSERVER_JWKS" in missing.stderr
    unknown = _serve(tmp_path, "--auth", "basic")
    assert unknown.returncode == 2 and "one of jwt, none" in unknown.stderr
