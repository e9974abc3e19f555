"""RS256 keys from a JWKS URL (a small HTTP server on 127.0.0.1 in the test): cached,
reloaded on an unknown kid at most once per interval; a server with only RSA keys refuses
every HS256 token (algorithm confusion)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.helpers import wait_for
from tests.server import ServerProcess

from . import keys
from .conftest import bearer
from .support import problem


class KeyServer:
    """Serves a JWKS document that the test can change, counting the fetches."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server interface
                owner.fetches += 1
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def jwks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                             KeyServer, Any]]:
    keyserver = KeyServer()
    first = keys.rsa_key()
    keyserver.document = {"keys": [keys.public_jwk(first, "k1")]}
    server = ServerProcess(tmp_path_factory.mktemp("jwks") / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWKS": keyserver.url,
        "SYNCSERVER_JWKS_REFRESH": "2", "SYNCSERVER_JWT_LEEWAY": "0"}).start()
    yield server, keyserver, first
    server.stop()
    keyserver.close()


def _claims(space: str) -> dict[str, Any]:
    return {"sub": "u-" + uuid.uuid4().hex[:8], "spaces": {space: "rw"},
            "exp": int(time.time()) + 600}


def _status(server: ServerProcess, token: str, space: str = "s") -> int:
    return httpx.get(f"{server.url}/v1/changes", params={"space": space},
                     headers=bearer(token), timeout=30).status_code


def test_an_rs256_token_of_the_url_key_set_is_accepted(jwks_server):
    server, _keyserver, first = jwks_server
    assert _status(server, keys.signed(_claims("s"), first, "k1", "RS256"), "s") == 200


def test_every_hs256_token_is_refused_by_an_rsa_key_set(jwks_server):
    server, _keyserver, first = jwks_server
    pem = keys.public_pem(first)
    for token in (keys.hs_with_key_bytes(_claims("s"), pem, kid="k1"),
                  keys.hs_with_key_bytes(_claims("s"), pem),
                  keys.alg_none(_claims("s"))):
        r = httpx.get(f"{server.url}/v1/changes", params={"space": "s"},
                      headers=bearer(token), timeout=30)
        problem(r, 401, "unauthorized")


def test_a_key_rotated_in_is_picked_up_and_unknown_kids_fetch_at_most_once_per_interval(
        jwks_server):
    server, keyserver, first = jwks_server
    second = keys.rsa_key()
    keyserver.document = {"keys": [keys.public_jwk(first, "k1"),
                                   keys.public_jwk(second, "k2")]}
    rotated = keys.signed(_claims("s"), second, "k2", "RS256")
    wait_for(lambda: _status(server, rotated) == 200, timeout=10, interval=0.5,
             what="the rotated key to be accepted")
    stranger = keys.rsa_key()
    fetches = keyserver.fetches
    started = time.monotonic()
    for _ in range(30):  # made-up kids: refused, and they cannot make the server fetch
        assert _status(server, keys.signed(_claims("s"), stranger, uuid.uuid4().hex,
                                           "RS256")) == 401
    elapsed = time.monotonic() - started
    assert keyserver.fetches - fetches <= 1 + int(elapsed / 2), (keyserver.fetches, elapsed)
