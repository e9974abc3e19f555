"""Guarantee 1: no acknowledged write is lost when the server process is killed (SIGKILL)
while clients stream pushes; replaying what was never answered converges."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx
import pytest

from tests.helpers import mutation, pull_all

from .support import read_db, stored_mutations, stored_records

CLIENTS = 4
RECORDS_PER_CLIENT = 3
BATCH = 5
SPACE = "crash"


@dataclass
class Writer:
    """One client: patches its own records, each mutation adding its own key, so the final
    data names every mutation that was applied (and a double apply shows in the version)."""

    client_id: str
    acked: list[tuple[dict, dict]] = field(default_factory=list)  # (request body, response)
    unacked: dict | None = None
    next_mid: int = 1
    versions: dict[str, int] = field(default_factory=dict)

    def next_batch(self) -> dict:
        mutations = []
        for _ in range(BATCH):
            mid = self.next_mid
            self.next_mid += 1
            rid = f"{self.client_id}-r{mid % RECORDS_PER_CLIENT}"
            base = self.versions.get(rid, 0)
            mutations.append(mutation(mid, rid, op="patch", base=base, space=SPACE,
                                      data={f"m{mid}": mid}, node=self.client_id))
            self.versions[rid] = base + 1
        return {"client_id": self.client_id, "mutations": mutations}

    def run(self, url: str, stop: threading.Event, progress: threading.Semaphore) -> None:
        with httpx.Client(base_url=url, timeout=10) as c:
            while not stop.is_set():
                body = self.next_batch()
                try:
                    r = c.post("/v1/push", json=body)
                except httpx.HTTPError:
                    self.unacked = body  # the server died under it: outcome unknown
                    return
                assert r.status_code == 200, r.text
                self.acked.append((body, r.json()))
                progress.release()


def _expected_data(batches: list[dict]) -> dict[str, dict]:
    data: dict[str, dict] = {}
    for body in batches:
        for m in body["mutations"]:
            data.setdefault(m["id"], {}).update(m["data"])
    return data


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_acknowledged_writes_survive_sigkill_and_replays_converge(server_factory, tmp_path):
    db = tmp_path / "crash.db"
    server = server_factory(db=db)
    writers = [Writer(f"w{i}") for i in range(CLIENTS)]
    stop = threading.Event()
    progress = threading.Semaphore(0)
    threads = [threading.Thread(target=w.run, args=(server.url, stop, progress))
               for w in writers]
    for t in threads:
        t.start()
    try:
        for _ in range(40):  # let some batches be acknowledged, then crash mid-stream
            assert progress.acquire(timeout=20), "pushes made no progress"
        server.kill()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert all(not t.is_alive() for t in threads)
    assert any(w.unacked is not None for w in writers), "no push was in flight at the kill"

    restarted = server_factory(db=db)
    with httpx.Client(base_url=restarted.url, timeout=30) as c:
        # Every acknowledged outcome is stored: its replay is a duplicate with the same result.
        for w in writers:
            for body, response in w.acked:
                replay = c.post("/v1/push", json=body).json()
                assert replay["results"] == [{**r, "duplicate": True}
                                             for r in response["results"]]
                assert all(r["status"] == "applied" for r in response["results"])
        # Replaying what was never answered converges: applied now, or a duplicate of the
        # crash-time commit, never twice.
        for w in writers:
            if w.unacked is not None:
                replay = c.post("/v1/push", json=w.unacked).json()
                assert [r["status"] for r in replay["results"]] == ["applied"] * BATCH, replay
                assert len({r.get("duplicate", False) for r in replay["results"]}) == 1

        expected = _expected_data(
            [b for w in writers for b, _ in w.acked]
            + [w.unacked for w in writers if w.unacked is not None])
        stored = stored_records(db, SPACE)
        assert {rid for _, rid in stored} == set(expected)
        for (_, rid), record in stored.items():
            assert record["data"] == expected[rid], rid
            assert record["version"] == len(expected[rid]), rid  # one version per mutation
        total = sum(len(d) for d in expected.values())
        ids = {w.client_id for w in writers}
        assert len([m for m in stored_mutations(db) if m[0] in ids]) == total
        assert read_db(db, "SELECT seq FROM spaces WHERE space = ?", (SPACE,)) == [(total,)]
        state, _ = pull_all(c, SPACE)
        assert {k: (v["version"], v["data"]) for k, v in state.items()} == {
            k: (v["version"], v["data"]) for k, v in stored.items()}
