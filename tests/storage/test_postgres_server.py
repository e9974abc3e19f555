"""`syncserver serve --db postgresql://...` end to end: a real server process on a fresh
PostgreSQL database, over HTTP and the WebSocket, and two instances on one database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.core.test_websocket import apush, catch_up, recv, send
from tests.helpers import mutation, pull_all, push
from tests.server import REPO, ServerProcess


def test_a_server_on_postgresql_serves_http_and_the_websocket(postgres_url: str,
                                                               tmp_path: Path) -> None:
    server = ServerProcess(postgres_url, log=tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            health = c.get("/healthz").json()
            assert health["status"] == "ok" and health["storage"] == "postgresql"
            sent = [mutation(i, f"r{i}") for i in range(1, 6)]
            out = push(c, "c1", sent)
            assert [r["seq"] for r in out["results"]] == [1, 2, 3, 4, 5]
            again = push(c, "c1", sent)
            assert all(r.get("duplicate") for r in again["results"])
            state, cursor = pull_all(c, "s1", limit=2)
            assert sorted(i for _, i in state) == [f"r{i}" for i in range(1, 6)]

            async def live() -> None:
                async with connect(server.ws_url) as ws:
                    await send(ws, {"type": "subscribe", "space": "s1", "cursor": cursor})
                    old, _ = await catch_up(ws, "s1")
                    assert old == []
                    await apush(server.url, "c2", [mutation(1, "new", space="s1")])
                    msg = await recv(ws)
                    assert msg["type"] == "changes" and msg["live"] is True, msg
                    assert [(ch["id"], ch["seq"]) for ch in msg["changes"]] == [("new", 6)]

            asyncio.run(live())
    finally:
        server.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_two_instances_share_one_database(postgres_url: str, tmp_path: Path) -> None:
    """Both start at once on a new database (migrations in turn, one secret, one epoch):
    a cursor of one is good on the other, and each sees the other's writes."""
    a = ServerProcess(postgres_url, log=tmp_path / "a.log")
    b = ServerProcess(postgres_url, log=tmp_path / "b.log")
    try:
        threads = [threading.Thread(target=s.start, kwargs={"timeout": 60}) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with httpx.Client(base_url=a.url, timeout=30) as ca, \
                httpx.Client(base_url=b.url, timeout=30) as cb:
            push(ca, "c1", [mutation(1, "from-a")])
            state, cursor = pull_all(cb, "s1")
            assert list(state) == [("todos", "from-a")]
            push(cb, "c2", [mutation(1, "from-b")])
            r = ca.get("/v1/changes", params={"space": "s1", "since": cursor})
            assert r.status_code == 200, r.text
            assert [ch["id"] for ch in r.json()["changes"]] == ["from-b"]
    finally:
        a.stop()
        b.stop()


def test_commands_on_postgresql(postgres_url: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncserver", *args, "--db", postgres_url],
                              cwd=REPO, capture_output=True, text=True, timeout=120)

    assert run("migrate").returncode == 0
    compacted = run("compact", "--older-than", "0s")
    assert compacted.returncode == 0, compacted.stderr
    assert "purged 0 tombstones" in compacted.stdout
    listed = run("conflicts")
    assert listed.returncode == 0 and "no conflicts recorded" in listed.stdout, listed.stderr
    renewed = run("new-epoch")
    assert renewed.returncode == 0 and "epoch" in renewed.stdout, renewed.stderr
    restore = subprocess.run([sys.executable, "-m", "syncserver", "restore", "backup.db",
                              "--db", postgres_url], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert restore.returncode == 2 and "pg_restore" in restore.stderr
