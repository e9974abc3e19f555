"""HTTPS straight from `syncserver serve --ssl-certfile --ssl-keyfile`: pushes, pulls and
the WebSocket (wss) over TLS with a certificate made in the test, HSTS only under HTTPS,
and a bad certificate setting stopping the server with one line before it serves."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.core.cli_support import assert_one_line_failure, run_syncserver
from tests.helpers import mutation, pull_all, push
from tests.server import ServerProcess, free_port

from .certs import Certificates
from .conftest import tls_env


def test_an_https_push_is_pulled_back_over_https(tls_server: ServerProcess, space: str,
                                                 certs: Certificates) -> None:
    with httpx.Client(base_url=tls_server.url, verify=certs.client_context(),
                      timeout=10) as client:
        result = push(client, "c-tls", [mutation(1, "a", space=space, node="c-tls")])
        assert result["results"][0]["status"] == "applied", result
        state, _ = pull_all(client, space)
    assert state[("todos", "a")]["data"] == {"title": "item a"}


def test_the_tls_server_refuses_a_client_that_does_not_trust_its_certificate(
        tls_server: ServerProcess) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(tls_server.url + "/healthz", timeout=5)  # the system's authorities only


def test_a_wss_subscriber_receives_a_change_pushed_over_https(
        tls_server: ServerProcess, space: str, certs: Certificates) -> None:
    async def scenario() -> dict:
        async with connect(tls_server.ws_url, ssl=certs.client_context()) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "space": space}).decode())
            while orjson.loads(await ws.recv())["type"] != "synced":
                pass
            async with httpx.AsyncClient(base_url=tls_server.url,
                                         verify=certs.client_context()) as client:
                body = {"client_id": "c-wss",
                        "mutations": [mutation(1, "w", space=space, node="c-wss")]}
                assert (await client.post("/v1/push", json=body)).status_code == 200
            while True:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "changes" and frame["changes"]:
                    return frame

    frame = asyncio.run(scenario())
    assert frame["live"] is True and frame["changes"][0]["id"] == "w"


def test_plain_ws_is_not_served_on_the_tls_port(tls_server: ServerProcess) -> None:
    async def scenario() -> None:
        async with connect(tls_server.ws_url.replace("wss://", "ws://"), open_timeout=5):
            pass

    with pytest.raises(Exception):  # noqa: B017 - any failure: TLS is required
        asyncio.run(scenario())


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/changes?space=s1"])
def test_hsts_is_sent_under_https(tls_server: ServerProcess, certs: Certificates,
                                  path: str) -> None:
    r = httpx.get(tls_server.url + path, verify=certs.client_context(), timeout=10)
    assert r.headers.get("strict-transport-security") == "max-age=31536000"


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/changes?space=s1"])
def test_hsts_is_never_sent_over_plain_http(plain_server: ServerProcess, path: str) -> None:
    # Even when a client claims the request came through HTTPS.
    r = httpx.get(plain_server.url + path, headers={"x-forwarded-proto": "https"}, timeout=10)
    assert r.status_code == 200
    assert "strict-transport-security" not in r.headers


def test_hsts_max_age_is_a_setting_and_zero_sends_none(tmp_path: Path,
                                                       certs: Certificates) -> None:
    for age, expected in (("600", "max-age=600"), ("0", None)):
        server = ServerProcess(tmp_path / f"hsts{age}.db", tls=certs.client_context(),
                               env={**tls_env(certs), "SYNCSERVER_HSTS_MAX_AGE": age}).start()
        try:
            r = httpx.get(server.url + "/healthz", verify=certs.client_context(), timeout=10)
            assert r.headers.get("strict-transport-security") == expected
        finally:
            server.stop()


def _serve(tmp_path: Path, *args: str) -> tuple[list[str], Path]:
    db = tmp_path / "never.db"
    return ["serve", "--db", str(db), "--no-demo", "--port", str(free_port()), *args], db


def test_a_certificate_without_its_key_is_refused_before_anything_is_served(
        tmp_path: Path, certs: Certificates) -> None:
    for given in (["--ssl-certfile", str(certs.cert)], ["--ssl-keyfile", str(certs.key)]):
        args, db = _serve(tmp_path, *given)
        done = run_syncserver(args)
        assert_one_line_failure(done, "--ssl-certfile", "--ssl-keyfile", status=2)
        assert not db.exists()


def test_a_missing_certificate_file_is_refused_with_its_setting(
        tmp_path: Path, certs: Certificates) -> None:
    args, _db = _serve(tmp_path, "--ssl-certfile", str(tmp_path / "nope.pem"),
                      "--ssl-keyfile", str(certs.key))
    done = run_syncserver(args)
    assert_one_line_failure(done, "--ssl-certfile", "SYNCSERVER_SSL_CERTFILE", "no such file",
                            status=2)


@pytest.mark.parametrize("case", ["key of another certificate", "not a certificate",
                                  "certificate as key", "encrypted key"])
def test_a_bad_certificate_and_key_pair_is_one_line_before_serving(
        tmp_path: Path, certs: Certificates, case: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not PEM\n")
    cert, key = {"key of another certificate": (certs.cert, certs.other_key),
                 "not a certificate": (garbage, certs.key),
                 "certificate as key": (certs.cert, certs.cert),
                 "encrypted key": (certs.cert, certs.encrypted_key)}[case]
    args, _ = _serve(tmp_path, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    done = run_syncserver(args)  # stdin is not a terminal: no prompt hangs
    assert_one_line_failure(done, str(key), "--ssl-keyfile", status=1)


def test_the_start_line_names_the_https_address(tmp_path: Path, certs: Certificates) -> None:
    server = ServerProcess(tmp_path / "line.db", tls=certs.client_context(),
                           env=tls_env(certs)).start()
    try:
        assert f"https://127.0.0.1:{server.port}/" in server.log.read_text()
    finally:
        server.stop()


def test_the_client_context_really_checks_the_host_name(certs: Certificates) -> None:
    # Guards the tests above: the certificate is for 127.0.0.1 and localhost only.
    context = certs.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
