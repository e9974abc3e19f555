"""Security headers over a real server: a Content Security Policy, `X-Frame-Options` and
`Referrer-Policy` on served pages and files, `nosniff` on every answer (API and problem+json
included), no CSP on the API, and the policy replaced or switched off by SYNCSERVER_CSP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from syncserver.config.settings import DEFAULT_CSP
from tests.server import ServerProcess

STATIC_APP = Path(__file__).resolve().parents[1] / "browser" / "static_app"
PAGES = ["/", "/index.html", "/app.js", "/sw.js", "/manifest.webmanifest",
         "/sync/index.js", "/no-such-page"]
API = ["/healthz", "/metrics", "/openapi.json", "/v1/changes?space=s1",
       "/v1/changes?space=", "/v1/conflicts", "/v1/no-such-endpoint"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_and_files_carry_the_csp_and_framing_and_referrer_headers(
        plain_server: ServerProcess, path: str) -> None:
    r = httpx.get(plain_server.url + path, timeout=10)
    assert r.headers["content-security-policy"] == DEFAULT_CSP
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_a_revalidated_page_keeps_its_headers(plain_server: ServerProcess) -> None:
    first = httpx.get(plain_server.url + "/", timeout=10)
    again = httpx.get(plain_server.url + "/", headers={"if-none-match": first.headers["etag"]},
                      timeout=10)
    assert again.status_code == 304
    assert again.headers["content-security-policy"] == DEFAULT_CSP


@pytest.mark.parametrize("path", API)
def test_api_answers_are_nosniff_without_a_page_policy(plain_server: ServerProcess,
                                                       path: str) -> None:
    r = httpx.get(plain_server.url + path, timeout=10)
    assert r.headers["x-content-type-options"] == "nosniff", r.status_code
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in r.headers


def test_a_refused_push_is_nosniff_problem_json(plain_server: ServerProcess) -> None:
    r = httpx.post(plain_server.url + "/v1/push", content=b"{}",
                   headers={"content-type": "text/plain"}, timeout=10)
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("csp", "expected", "frame"), [
    ("default-src 'self'; connect-src 'self' https://api.example.com",
     "default-src 'self'; connect-src 'self' https://api.example.com", None),
    ("off", None, None),
    ("OFF", None, None),
])
def test_a_static_app_sets_or_switches_off_the_policy(
        tmp_path: Path, csp: str, expected: str | None, frame: str | None) -> None:
    server = ServerProcess(tmp_path / "csp.db", env={"SYNCSERVER_STATIC": str(STATIC_APP),
                                                     "SYNCSERVER_CSP": csp}).start()
    try:
        for path in ("/", "/sw.js"):
            r = httpx.get(server.url + path, timeout=10)
            assert r.status_code == 200
            assert r.headers.get("content-security-policy") == expected
            assert r.headers.get("x-frame-options") == frame
            assert r.headers["x-content-type-options"] == "nosniff"
    finally:
        server.stop()
