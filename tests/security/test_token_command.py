"""`syncserver token` mints a development token from the configured secret: only the token
is printed, and the server accepts it for exactly the spaces it names."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import jwt

from tests.server import REPO

from . import keys
from .conftest import bearer


def _token_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncserver", "token", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **env}, check=False)


def test_the_token_command_prints_a_token_the_server_accepts(secured, user, space):
    env = {"SYNCSERVER_JWT_SECRET": keys.SECRET, "SYNCSERVER_JWT_ISSUER": keys.ISSUER,
           "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE}
    done = _token_command("--sub", user, "--space", f"{space}:rw", "--space", "team-1:r",
                          "--space", "user-{sub}:rw", "--ttl", "1h", env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    claims = jwt.decode(token, keys.SECRET, algorithms=["HS256"], audience=keys.AUDIENCE)
    assert claims["sub"] == user and claims["iss"] == keys.ISSUER
    assert claims["spaces"] == {space: "rw", "team-1": "r", "user-{sub}": "rw"}
    assert claims["exp"] - claims["iat"] == 3600
    ok = httpx.get(f"{secured.url}/v1/changes", params={"space": f"user-{user}"},
                   headers=bearer(token), timeout=30)
    assert ok.status_code == 200
    other = httpx.get(f"{secured.url}/v1/changes", params={"space": "team-2"},
                      headers=bearer(token), timeout=30)
    assert other.status_code == 403


def test_the_token_command_needs_a_secret_and_well_formed_grants():
    env = {"SYNCSERVER_JWT_SECRET": ""}
    missing = _token_command("--sub", "alice", env=env)
    assert missing.returncode == 1 and "SYNCSERVER_JWT_SECRET" in missing.stderr
    assert missing.stdout == ""
    bad = _token_command("--sub", "alice", "--space", "alice:admin",
                         env={"SYNCSERVER_JWT_SECRET": keys.SECRET})
    assert bad.returncode == 2 and "SPACE:rw" in bad.stderr
    short = _token_command("--sub", "alice", env={"SYNCSERVER_JWT_SECRET": "short"})
    assert short.returncode == 2 and "at least 32" in short.stderr and "short" not in \
        short.stderr.replace("too short", "")
