"""Secure by default, against real servers: with no key and no `--dev`, `serve` refuses to
start; `--auth none` is an explicit choice that warns; `--dev` verifies tokens signed with a
secret it generates once and keeps in the database, and hands them out at
`POST /v1/dev/token` to callers on this machine only, for exactly the spaces they name, less
the shared spaces revoked from them at `/v1/dev/grants`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from syncserver.config.settings import SettingError, Settings
from syncserver.model.errors import ErrorCode, SyncError
from syncserver.ops.app import create_app
from syncserver.ops.devaccess import MAX_REVOKED, DevAccess
from tests.helpers import assert_problem, mutation, stamped_by
from tests.server import REPO, ServerProcess, free_port

from .conftest import bearer


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSERVER_")}
    return subprocess.run([sys.executable, "-m", "syncserver", "serve", "--db",
                           str(tmp_path / "s.db"), "--no-demo", "--port", str(free_port()),
                           *args], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=env, check=False)


def _dev_token(server: ServerProcess, sub: str, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/dev/token", json={"sub": sub, **body}, timeout=30)


def _grant(server: ServerProcess, sub: str, space: object, granted: object,
           **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/dev/grants",
                      json={"sub": sub, "space": space, "granted": granted},
                      headers=headers, timeout=30)


def _push(server: ServerProcess, token: str, client_id: str, space: str,
          mid: int = 1) -> httpx.Response:
    batch = stamped_by(client_id, [mutation(mid, "r1", space=space)])
    return httpx.post(f"{server.url}/v1/push", json={"client_id": client_id, "mutations": batch},
                      headers=bearer(token), timeout=30)


def test_no_key_and_no_dev_is_refused_with_the_three_ways_forward(tmp_path: Path) -> None:
    done = _serve(tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for way in ("--jwt-secret", "--jwks", "--dev", "--auth none"):
        assert way in lines[0], lines[0]
    assert not (tmp_path / "s.db").exists(), "refused before the database is touched"


def test_an_app_built_in_code_is_held_to_the_same_rule(tmp_path: Path) -> None:
    # `uvicorn --factory syncserver.ops.app:create_app` and the like: no key, no app
    with pytest.raises(SettingError, match="--dev"):
        create_app(Settings(db=str(tmp_path / "code.db")))
    create_app(Settings(db=str(tmp_path / "code.db"), dev=True))
    create_app(Settings(db=str(tmp_path / "code.db"), auth="none"))


def test_dev_and_auth_none_together_are_refused(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--dev", "--auth", "none")
    assert done.returncode == 2 and "--dev" in done.stderr and "--auth none" in done.stderr
    assert not (tmp_path / "s.db").exists()


def test_auth_none_starts_and_says_loudly_that_it_is_open(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "open.db", args=["--auth", "none"]).start()
    try:
        r = httpx.get(f"{server.url}/v1/changes", params={"space": "s1"}, timeout=30)
        assert r.status_code == 200  # no token needed: that is what --auth none means
    finally:
        server.stop()
    log = server.log.read_text()
    assert "WARNING: --auth none" in log and "reads and writes every space" in log


def test_the_dev_endpoint_is_an_unknown_path_without_dev(tmp_path: Path) -> None:
    open_server = ServerProcess(tmp_path / "open.db").start()  # --auth none
    secured = ServerProcess(tmp_path / "jwt.db", env={"SYNCSERVER_JWT_SECRET": "k" * 32},
                            demo=True).start()
    try:
        for server in (open_server, secured):
            assert_problem(_dev_token(server, "alice"), 404, "not_found")
            assert_problem(httpx.get(f"{server.url}/v1/dev/grants", timeout=30), 404,
                           "not_found")
            assert_problem(_grant(server, "bob", "demo", False), 404, "not_found")
            paths = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
            assert "/v1/dev/token" not in paths and "/v1/dev/grants" not in paths
        # the secured server needs a token now: auth is on without --auth jwt
        r = httpx.get(f"{secured.url}/v1/changes", params={"space": "s1"}, timeout=30)
        assert_problem(r, 401, "unauthorized")
    finally:
        open_server.stop()
        secured.stop()
    assert "DEV MODE" not in secured.log.read_text()


def test_dev_keeps_its_secret_so_a_token_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    server = ServerProcess(db, args=["--dev"]).start()
    try:
        assert_problem(httpx.get(f"{server.url}/v1/changes", params={"space": "demo"},
                                 timeout=30), 401, "unauthorized")
        answer = _dev_token(server, "alice")
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["sub"] == "alice"
        assert body["spaces"] == {"user-alice": "rw", "demo": "rw"}
        token = body["token"]
        assert _push(server, token, "dev-c1", "user-alice").json()["results"][0]["status"] \
            == "applied"
        assert "/v1/dev/token" in httpx.get(f"{server.url}/openapi.json",
                                            timeout=30).json()["paths"]
    finally:
        server.stop()
    assert "DEV MODE: anyone who can reach this server can obtain a token" in \
        server.log.read_text()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert 0 < claims["exp"] - claims["iat"] <= 3600  # short-lived

    again = ServerProcess(db, port=server.port, args=["--dev"]).start()
    try:
        r = httpx.get(f"{again.url}/v1/changes", params={"space": "user-alice"},
                      headers=bearer(token), timeout=30)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["changes"]] == ["r1"]
        # and `syncserver token --dev` signs with the same kept secret, beside the server
        minted = subprocess.run([sys.executable, "-m", "syncserver", "token", "--dev",
                                 "--db", str(db), "--sub", "bob"], capture_output=True,
                                text=True, timeout=60, cwd=REPO, check=False)
        assert minted.returncode == 0, minted.stderr
        r = httpx.get(f"{again.url}/v1/changes", params={"space": "user-bob"},
                      headers=bearer(minted.stdout.strip()), timeout=30)
        assert r.status_code == 200, r.text
    finally:
        again.stop()


def test_a_dev_token_grants_only_its_users_spaces(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "dev.db", args=["--dev"]).start()
    try:
        alice = _dev_token(server, "alice", spaces=["demo", "team-1"]).json()["token"]
        bob = _dev_token(server, "bob").json()["token"]
        assert _push(server, bob, "dev-bob", "user-bob").status_code == 200
        # alice reads and writes her spaces...
        for mid, space in enumerate(("user-alice", "demo", "team-1"), 1):
            result = _push(server, alice, "dev-alice", space, mid).json()["results"][0]
            assert result["status"] == "applied", result
        # ...and never bob's private space, nor a shared one she did not ask for
        for space in ("user-bob", "team-2"):
            r = httpx.get(f"{server.url}/v1/changes", params={"space": space},
                          headers=bearer(alice), timeout=30)
            assert_problem(r, 403, "forbidden")
        result = _push(server, alice, "dev-alice", "user-bob", 4).json()["results"][0]
        assert result["status"] == "rejected" and result["code"] == "forbidden"
        # asking for another user's private space is refused, not quietly granted
        assert_problem(_dev_token(server, "alice", spaces=["user-bob"]), 403, "forbidden")
        # bad requests are 4xx problems
        assert_problem(_dev_token(server, "no spaces allowed"), 400, "invalid_request")
        assert_problem(_dev_token(server, "alice", spaces="demo"), 400, "invalid_request")
        r = httpx.post(f"{server.url}/v1/dev/token", content=b'{"sub": "alice"}',
                       headers={"content-type": "text/plain"}, timeout=30)
        assert_problem(r, 415, "unsupported_media_type")
        # a page whose own name resolves to 127.0.0.1 (DNS rebinding) gets no token
        r = httpx.post(f"{server.url}/v1/dev/token", json={"sub": "alice"},
                       headers={"host": f"evil.example:{server.port}"}, timeout=30)
        assert_problem(r, 403, "forbidden")
    finally:
        server.stop()


def test_a_revoked_shared_space_is_left_out_of_the_users_next_dev_tokens(
        tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "dev.db", args=["--dev"]).start()
    try:
        table = httpx.get(f"{server.url}/v1/dev/grants", timeout=30)
        assert table.status_code == 200 and table.headers["cache-control"] == "no-store"
        assert table.json() == {"version": 0, "revoked": []}
        before = _dev_token(server, "bob").json()["token"]

        revoked = _grant(server, "bob", "demo", False)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json() == {"version": 1, "revoked": [{"sub": "bob", "space": "demo"}]}
        assert _grant(server, "bob", "demo", False).json()["version"] == 1  # no change
        body = _dev_token(server, "bob", spaces=["demo", "team-1"]).json()
        assert body["spaces"] == {"user-bob": "rw", "team-1": "rw"}
        assert body["withheld"] == ["demo"]
        after = body["token"]
        # The server lists (and enforces) what the new token grants; alice keeps `demo`.
        listed = httpx.get(f"{server.url}/v1/spaces", headers=bearer(after), timeout=30)
        assert [s["space"] for s in listed.json()["spaces"]] == ["team-1", "user-bob"]
        assert_problem(httpx.get(f"{server.url}/v1/changes", params={"space": "demo"},
                                 headers=bearer(after), timeout=30), 403, "forbidden")
        alice = _dev_token(server, "alice").json()
        assert alice["spaces"] == {"user-alice": "rw", "demo": "rw"} and \
            alice["withheld"] == []
        # A token minted before stays what it was until it expires: a device takes the
        # change with its next token (the demo page asks for one at once).
        r = httpx.get(f"{server.url}/v1/changes", params={"space": "demo"},
                      headers=bearer(before), timeout=30)
        assert r.status_code == 200, r.text

        granted = _grant(server, "bob", "demo", True)
        assert granted.json() == {"version": 2, "revoked": []}
        assert _dev_token(server, "bob").json()["spaces"] == {"user-bob": "rw", "demo": "rw"}

        # Bad requests are 4xx problems and change nothing.
        for sub, space, flag, field in [("bob", "user-bob", False, "space"),
                                        ("bob", "user-alice", False, "space"),
                                        ("bob", "no spaces", False, "space"),
                                        ("bob", 7, False, "space"),
                                        ("no spaces allowed", "demo", False, "sub"),
                                        ("bob", "demo", "no", "granted"),
                                        ("bob", "demo", None, "granted")]:
            problem = assert_problem(_grant(server, sub, space, flag), 400, "invalid_request")
            assert problem["field"] == field, problem
        for raw in (b"[]", b'"bob"'):
            r = httpx.post(f"{server.url}/v1/dev/grants", content=raw,
                           headers={"content-type": "application/json"}, timeout=30)
            assert_problem(r, 400, "invalid_request")
        r = httpx.post(f"{server.url}/v1/dev/grants", content=b"{",
                       headers={"content-type": "application/json"}, timeout=30)
        assert_problem(r, 400, "malformed_json")
        r = httpx.post(f"{server.url}/v1/dev/grants", content=b'{"sub": "bob"}',
                       headers={"content-type": "text/plain"}, timeout=30)
        assert_problem(r, 415, "unsupported_media_type")
        evil = {"host": f"evil.example:{server.port}"}
        assert_problem(_grant(server, "bob", "demo", False, **evil), 403, "forbidden")
        assert_problem(httpx.get(f"{server.url}/v1/dev/grants", headers=evil, timeout=30),
                       403, "forbidden")
        assert httpx.get(f"{server.url}/v1/dev/grants", timeout=30).json() == \
            {"version": 2, "revoked": []}
        paths = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
        assert set(paths["/v1/dev/grants"]) == {"get", "post"}
    finally:
        server.stop()


def test_the_dev_access_table_holds_a_bounded_number_of_revocations() -> None:
    access = DevAccess()
    for n in range(MAX_REVOKED):
        access.change(f"u{n}", "demo", False)
    with pytest.raises(SyncError) as refused:
        access.change("one-more", "demo", False)
    assert refused.value.code == ErrorCode.INVALID_REQUEST and not access.allows("u0", "demo")
    assert access.allows("one-more", "demo") and access.version == MAX_REVOKED
    access.change("u0", "demo", True)
    access.change("one-more", "demo", False)
    assert access.allows("u0", "demo") and not access.allows("one-more", "demo")
