"""What a server in trouble tells whoever can reach it: /metrics can be restricted to a
token or switched off, and neither /healthz nor /metrics nor an unexpected error's 500
reveals internals (exception text, SQL, table names, file paths), while every answer, the
500 included, carries the security and CORS headers.

The trouble is real: a table dropped under the running server (as a bad manual migration
would), so its reads fail with SQLite's "no such table" and a request that reads it ends
in an unexpected error."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess

TOKEN = "metrics-" + "k" * 24
ORIGIN = "https://app.example.com"
# Words of the failure that must stay in the log: SQLite's message, the table, the file.
INTERNALS = ("no such table", "spaces", "sqlite", "Traceback", "OperationalError", ".db",
             "SELECT")


def _no_internals(body: str, db: Path) -> None:
    for word in (*INTERNALS, str(db.parent)):
        assert word.lower() not in body.lower(), f"{word!r} in {body[:500]}"


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose `spaces` table is gone: reads of the feed and the health check fail."""
    server = ServerProcess(tmp_path / "sync.db", env={
        "SYNCSERVER_METRICS_TOKEN": TOKEN, "SYNCSERVER_CORS_ORIGINS": ORIGIN}).start()
    try:
        with sqlite3.connect(server.db) as conn:
            conn.execute("DROP TABLE spaces")
        yield server
    finally:
        server.stop()


def test_metrics_needs_its_token_when_one_is_set(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sync.db",
                           env={"SYNCSERVER_METRICS_TOKEN": TOKEN}).start()
    try:
        for headers in ({}, {"authorization": "Bearer wrong-token-of-some-length"},
                        {"authorization": TOKEN}, {"authorization": "Basic " + TOKEN}):
            r = httpx.get(server.url + "/metrics", headers=headers, timeout=10)
            assert r.status_code == 401, (headers, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "syncserver_" not in r.text
        r = httpx.get(server.url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"},
                      timeout=10)
        assert r.status_code == 200 and "syncserver_mutations" in r.text
        # The rest of the API does not take the metrics token for anything.
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sync.db", env={"SYNCSERVER_METRICS_TOKEN": "off"}).start()
    try:
        r = httpx.get(server.url + "/metrics", headers={"authorization": "Bearer off"},
                      timeout=10)
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
        assert "syncserver_" not in r.text
    finally:
        server.stop()


def test_healthz_and_metrics_reveal_no_internals_when_storage_fails(
        broken_server: ServerProcess) -> None:
    with httpx.Client(base_url=broken_server.url, timeout=10) as c:
        health = c.get("/healthz")
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "unavailable" and health.json()["detail"]
        assert health.headers["retry-after"].isdigit()
        _no_internals(health.text, broken_server.db)
    # A failing read, counted under its route (the server closes the connection after
    # an unexpected error: a request of its own).
    assert httpx.get(broken_server.url + "/v1/changes", params={"space": "s1"},
                     timeout=10).status_code == 500
    with httpx.Client(base_url=broken_server.url, timeout=10) as c:
        metrics = c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 200
        assert 'route="/v1/changes"' in metrics.text
        _no_internals(metrics.text, broken_server.db)
    # ... and the reason is in the server's log, for its operator.
    assert "no such table" in broken_server.log.read_text()


def test_an_unexpected_error_is_a_500_problem_with_every_header_and_no_internals(
        broken_server: ServerProcess) -> None:
    r = httpx.get(broken_server.url + "/v1/changes", params={"space": "s1"},
                  headers={"origin": ORIGIN}, timeout=10)
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "internal_error" and body["status"] == 500
    assert body["error_id"] in body["detail"], "the id to find the log line"
    _no_internals(r.text, broken_server.db)
    # The headers every answer carries, this one included.
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in r.headers["access-control-expose-headers"]
    assert "Origin" in r.headers["vary"]
    assert body["error_id"] in broken_server.log.read_text()
