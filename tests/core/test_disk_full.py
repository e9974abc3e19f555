"""Guarantee 10 on a real full disk: a batch is answered as committed exactly when it is
committed. The database lives on a 20 MB tmpfs that the test fills; every answer is either
200 (and the batch is there after the disk is freed and the server restarted) or 503
`storage_unavailable` with Retry-After (and nothing of the batch is stored); never a 500."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.helpers import assert_problem, mutation, pull_all, wait_for
from tests.server import ServerProcess

DISK_MB = 20
BATCH = 40  # mutations of about 1 KB each


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of DISK_MB megabytes (tmpfs, mounted as root: CI runs as root)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs",
                           str(mount_point)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, name: str = "filler") -> Path:
    """Take every free byte of the filesystem; the file that holds them."""
    filler = disk / name
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def _batch(client_id: str, first_mid: int, space: str) -> dict:
    return {"client_id": client_id, "mutations": [
        mutation(first_mid + n, f"r{first_mid + n}", space=space, node=client_id,
                 data={"title": uuid.uuid4().hex * 30}) for n in range(BATCH)]}


def _push(http: httpx.Client, body: dict) -> bool:
    """True when the batch is answered as committed; False when refused as storage trouble
    (checked: 503, the problem body, Retry-After); any other answer fails the test."""
    response = http.post("/v1/push", json=body)
    if response.status_code == 200:
        assert [r["status"] for r in response.json()["results"]] == ["applied"] * BATCH
        return True
    assert_problem(response, 503, "storage_unavailable")
    assert int(response.headers["retry-after"]) > 0
    # the kind of failure in our words, never SQLite's own text (nothing internal leaks)
    detail = response.json()["detail"]
    assert "database or disk is full" not in detail and "disk is full" in detail, detail
    return False


async def _ws_push(url: str, body: dict) -> dict:
    async with connect(url) as ws:
        await ws.send(orjson.dumps({"type": "push", "request_id": "r1", **body}).decode())
        answer: dict = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        return answer


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_a_full_disk_gets_503_and_every_batch_answered_200_is_stored(small_disk, tmp_path):
    db = small_disk / "sync.db"
    server = ServerProcess(db)
    server.log = tmp_path / "server.log"  # not on the disk that fills up
    server.start()
    space, client_id = "s-full", "c-full"
    committed: list[dict] = []
    refused: list[dict] = []
    mid = 1
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for _ in range(3):  # a database that already holds something
                body = _batch(client_id, mid, space)
                mid += BATCH
                assert _push(http, body)
                committed.append(body)
            filler = _fill(small_disk)
            streak = 0
            for _ in range(300):  # until the full disk has refused several batches in a row
                body = _batch(client_id, mid, space)
                mid += BATCH
                ok = _push(http, body)
                (committed if ok else refused).append(body)
                streak = 0 if ok else streak + 1
                if streak == 3:
                    break
            assert refused, "the full disk refused no batch"

            # A refused batch's rollback frees the pages it took: take them too, or the
            # health check's one-row write may rightly commit (and answer 200).
            topup = _fill(small_disk, "filler-2")
            health = http.get("/healthz")
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable" and health.json()["detail"]
            error = health.json()["error"]  # what kind, for alerting (docs/protocol.md)
            assert (error["operation"], error["kind"]) == ("write", "disk_full"), error
            answer = asyncio.run(_ws_push(server.ws_url, _batch(client_id, mid, space)))
            assert answer["type"] == "error" and answer["code"] == "storage_unavailable", answer
            assert answer["retry_after"] > 0 and answer["request_id"] == "r1"
            refused.append(_batch(client_id, mid, space))
            mid += BATCH

            filler.unlink()
            topup.unlink()
            wait_for(lambda: http.get("/healthz").status_code == 200, timeout=15,
                     what="/healthz to answer 200 once the disk has room again")
            body = _batch(client_id, mid, space)
            mid += BATCH
            assert _push(http, body), "a batch after the disk was freed"
            committed.append(body)
        server.stop()

        server = ServerProcess(db, port=server.port)
        server.log = tmp_path / "server.log"
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            state, _cursor = pull_all(http, space)
        ids = {record_id for (_collection, record_id) in state}
        for body in committed:
            for m in body["mutations"]:
                assert m["id"] in ids, f"{m['id']} was answered 200 but is not stored"
                assert state[("todos", m["id"])]["data"] == m["data"]
        for body in refused:
            for m in body["mutations"]:
                assert m["id"] not in ids, f"{m['id']} was answered 503 but is stored"
    finally:
        server.stop()
