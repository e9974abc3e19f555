"""The CORS allow-list (SYNCSERVER_CORS_ORIGINS) over a real server: preflights of push,
changes, conflicts and resolution answered for listed origins and refused (403, no CORS
header) for the others, CORS headers on the answers themselves, and the WebSocket handshake
refused (403) to a browser page of a foreign origin."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.helpers import assert_problem
from tests.server import ServerProcess

APP = "https://app.example.com"
DEV = "http://localhost:5173"
FOREIGN = "https://evil.example.net"
ENDPOINTS = [("/v1/push", "POST"), ("/v1/changes", "GET"), ("/v1/conflicts", "GET"),
             ("/v1/conflicts/7/resolve", "POST"), ("/v1/collections", "GET")]


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Written as an operator might: spaces, a default port spelled out, upper case.
    env = {"SYNCSERVER_CORS_ORIGINS": f" HTTPS://app.example.com:443 , {DEV}",
           "SYNCSERVER_CORS_MAX_AGE": "900"}
    server = ServerProcess(tmp_path_factory.mktemp("cors") / "sync.db", env=env).start()
    yield server
    server.stop()


def _preflight(server: ServerProcess, path: str, method: str, origin: str) -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": method}
    if method == "POST":
        headers["access-control-request-headers"] = "authorization,content-type"
    return httpx.options(server.url + path, headers=headers, timeout=10)


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.mark.parametrize(("path", "method"), ENDPOINTS)
@pytest.mark.parametrize("origin", [APP, DEV])
def test_a_listed_origin_gets_a_preflight_answer_for_each_endpoint(
        cors_server: ServerProcess, path: str, method: str, origin: str) -> None:
    r = _preflight(cors_server, path, method, origin)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == origin
    assert method in [m.strip() for m in r.headers["access-control-allow-methods"].split(",")]
    allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
    # If-None-Match: the client revalidates GET /v1/collections with its stored ETag.
    assert {"authorization", "content-type", "if-none-match"} <= allowed
    assert r.headers["access-control-max-age"] == "900"
    assert "origin" in r.headers["vary"].lower()
    assert "access-control-allow-credentials" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("path", "method"), ENDPOINTS)
@pytest.mark.parametrize("origin", [FOREIGN, "null", "https://app.example.com:8443",
                                    "http://app.example.com"])
def test_an_unlisted_origin_gets_a_403_preflight_without_cors_headers(
        cors_server: ServerProcess, path: str, method: str, origin: str) -> None:
    r = _preflight(cors_server, path, method, origin)
    assert_problem(r, 403, "origin_not_allowed")
    assert _cors_headers(r) == {}


@pytest.mark.parametrize(("path", "method"), ENDPOINTS)
def test_with_no_list_every_cross_origin_preflight_is_refused(
        plain_server: ServerProcess, path: str, method: str) -> None:
    r = _preflight(plain_server, path, method, APP)
    assert_problem(r, 403, "origin_not_allowed")
    assert _cors_headers(r) == {}


def test_answers_to_a_listed_origin_carry_cors_headers_and_expose_retry_after_and_etag(
        cors_server: ServerProcess) -> None:
    r = httpx.get(cors_server.url + "/v1/changes", params={"space": "s1"},
                  headers={"origin": APP}, timeout=10)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()
    assert "origin" in r.headers["vary"].lower()
    # The page reads the ETag it sends back as If-None-Match.
    r = httpx.get(cors_server.url + "/v1/collections", headers={"origin": APP}, timeout=10)
    assert r.status_code == 200 and r.headers["etag"]
    assert "etag" in r.headers["access-control-expose-headers"].lower()
    # An error answer too: the page must be able to read a problem+json.
    r = httpx.post(cors_server.url + "/v1/push", content=b"{", headers={
        "origin": DEV, "content-type": "application/json"}, timeout=10)
    assert_problem(r, 400, "malformed_json")
    assert r.headers["access-control-allow-origin"] == DEV


def test_answers_to_an_unlisted_origin_carry_no_cors_headers(
        cors_server: ServerProcess) -> None:
    r = httpx.get(cors_server.url + "/v1/changes", params={"space": "s1"},
                  headers={"origin": FOREIGN}, timeout=10)
    assert r.status_code == 200 and _cors_headers(r) == {}
    assert "origin" in r.headers["vary"].lower()  # a cache must not reuse it for APP


def _ws_status(server: ServerProcess, origin: str | None) -> int:
    async def attempt() -> int:
        try:
            async with connect(server.ws_url, origin=origin, open_timeout=5) as ws:  # type: ignore[arg-type]
                await ws.send('{"type": "ping"}')
                assert '"pong"' in str(await asyncio.wait_for(ws.recv(), 5))
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())


@pytest.mark.parametrize(("origin", "status"), [
    (None, 101), (APP, 101), (DEV, 101), (FOREIGN, 403), ("null", 403),
    ("http://localhost:8000", 403)])
def test_the_websocket_handshake_checks_the_origin_against_the_list(
        cors_server: ServerProcess, origin: str | None, status: int) -> None:
    assert _ws_status(cors_server, origin) == status


def test_the_websocket_accepts_the_servers_own_origin_and_refuses_others_by_default(
        plain_server: ServerProcess) -> None:
    assert _ws_status(plain_server, f"http://127.0.0.1:{plain_server.port}") == 101
    assert _ws_status(plain_server, None) == 101
    assert _ws_status(plain_server, f"http://localhost:{plain_server.port + 1}") == 403
    assert _ws_status(plain_server, FOREIGN) == 403


@pytest.mark.parametrize("shape", [
    "https://127.0.0.1:{port}",  # another scheme: another origin
    "http://127.0.0.1:{port}/anything",  # not an origin at all
    "http://127.0.0.1:{port}/",
    "http://127.0.0.1:{port}?q",
    "http://user@127.0.0.1:{port}",
    "ws://127.0.0.1:{port}",
])
def test_the_websocket_compares_whole_origins_with_its_own(
        plain_server: ServerProcess, shape: str) -> None:
    assert _ws_status(plain_server, shape.format(port=plain_server.port)) == 403


def _raw_handshake(server: ServerProcess, headers: dict[str, str]) -> int:
    """A browser's handshake as a TLS proxy in front of the server passes it on (its Host,
    X-Forwarded-Proto), from 127.0.0.1, the address uvicorn trusts for these headers."""
    lines = ["GET /v1/ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(s.recv(1024).split(b" ", 2)[1])


def test_behind_a_tls_proxy_the_page_origin_matches_by_the_forwarded_scheme(
        plain_server: ServerProcess) -> None:
    page = {"Host": "app.example.com", "Origin": "https://app.example.com"}
    assert _raw_handshake(plain_server, {**page, "X-Forwarded-Proto": "https"}) == 101
    # Without it the server knows only that it was reached over plain HTTP.
    assert _raw_handshake(plain_server, page) == 403
    assert _raw_handshake(plain_server, {**page, "Origin": "http://app.example.com",
                                         "X-Forwarded-Proto": "https"}) == 403


def test_the_allow_list_is_validated_at_start(tmp_path: Path) -> None:
    from tests.core.cli_support import assert_one_line_failure, run_syncserver

    done = run_syncserver(["settings", "--cors-origins", "https://a.example,*"])
    assert_one_line_failure(done, "--cors-origins", "SYNCSERVER_CORS_ORIGINS", "exact",
                            status=2)
    done = run_syncserver(["settings", "--cors-origins", "https://a.example/app"])
    assert_one_line_failure(done, "--cors-origins", "no path", status=2)
