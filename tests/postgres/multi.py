"""Writers and feed readers against several server instances on one PostgreSQL database
(tests/postgres/test_three_instances.py): what each wrote and was acknowledged, what each
reader saw, and the checks of what they saw against the database."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psycopg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.helpers import mutation, stamped_by
from tests.server import ServerProcess

SPACES = ("s1", "s2")
RECORDS = 12  # ids per space: writers often write the same records


@dataclass
class Cluster:
    servers: list[ServerProcess]
    dead: set[int] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)  # every HTTP answer's status
    errors: list[str] = field(default_factory=list)  # WebSocket error frames, bad answers

    def pick(self, avoid: int | None = None) -> int:
        choices = [i for i in range(len(self.servers)) if i not in self.dead and i != avoid]
        return random.choice(choices or [i for i in range(len(self.servers))
                                         if i not in self.dead])


@dataclass
class Writer:
    cluster: Cluster
    client_id: str
    batches: int
    acked: list[dict[str, Any]] = field(default_factory=list)  # results with a version
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    async def run(self) -> None:
        mid = 0
        for _ in range(self.batches):
            batch = []
            for _ in range(random.randint(1, 4)):
                mid += 1
                space, rid = random.choice(SPACES), f"r{random.randrange(RECORDS)}"
                base = self.versions.get((space, rid), 0)
                if random.random() < 0.1 and base:
                    batch.append(mutation(mid, rid, op="delete", base=base, space=space))
                else:
                    batch.append(mutation(mid, rid, data={"by": self.client_id, "mid": mid},
                                          base=base, space=space))
            await self._push(stamped_by(self.client_id, batch))
            await asyncio.sleep(random.uniform(0.05, 0.15))  # a run lasts >= 0.6 s

    async def _push(self, batch: list[dict[str, Any]]) -> None:
        """Through a random live instance; when it dies mid-request, the same batch again
        through another (a replay applies once)."""
        body = {"client_id": self.client_id, "mutations": batch}
        at: int | None = None
        for _ in range(20):
            at = self.cluster.pick(avoid=at)
            try:
                async with httpx.AsyncClient(timeout=30) as c:
                    r = await c.post(self.cluster.servers[at].url + "/v1/push", json=body)
            except httpx.TransportError:
                await asyncio.sleep(0.1)  # a client's pause before it tries another instance
                continue
            self.cluster.statuses.append(r.status_code)
            if r.status_code != 200:
                self.cluster.errors.append(f"push {r.status_code}: {r.text[:300]}")
                return
            for m, result in zip(batch, r.json()["results"], strict=True):
                if "version" in result:
                    key = (m["space"], m["id"])
                    self.versions[key] = max(self.versions.get(key, 0), result["version"])
                    self.acked.append({"space": m["space"], "id": m["id"], **result})
            return
        self.cluster.errors.append(f"{self.client_id}: no instance took a push")


@dataclass
class Reader:
    """Follows one space's feed from the empty cursor, over long-polls or a WebSocket, on
    one instance; when that instance dies, resumes from its cursor on another."""

    cluster: Cluster
    space: str
    at: int
    websocket: bool
    seen: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    reconnects: int = 0
    top: int = 0  # the highest seq seen
    following: bool = False  # it has read to the feed's head once (caught up)
    target: int | None = None  # stop once a change at this seq was seen

    def done(self) -> bool:
        return self.target is not None and self.top >= self.target

    def took(self, changes: list[dict[str, Any]]) -> None:
        self.seen += changes
        if changes:
            self.top = max(self.top, changes[-1]["seq"])

    async def run(self) -> None:
        while not self.done():
            try:
                await (self._follow_ws() if self.websocket else self._follow_http())
            except (httpx.TransportError, OSError, ConnectionClosed, InvalidHandshake):
                self.reconnects += 1
                self.at = self.cluster.pick(avoid=self.at)
                await asyncio.sleep(0.05)  # a client's pause before it reconnects

    async def _follow_http(self) -> None:
        async with httpx.AsyncClient(base_url=self.cluster.servers[self.at].url,
                                     timeout=30) as c:
            while not self.done():
                r = await c.get("/v1/changes", params={"space": self.space,
                                                       "since": self.cursor, "wait": 1})
                self.cluster.statuses.append(r.status_code)
                if r.status_code != 200:
                    self.cluster.errors.append(f"changes {r.status_code}: {r.text[:300]}")
                    await asyncio.sleep(0.1)  # a client's pause before it asks again
                    continue
                page = r.json()
                self.took(page["changes"])
                self.cursor = page["cursor"]
                self.following = self.following or not page["more"]

    async def _follow_ws(self) -> None:
        async with connect(self.cluster.servers[self.at].ws_url, open_timeout=10) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "space": self.space,
                                        "cursor": self.cursor}).decode())
            while not self.done():
                try:
                    frame = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                msg = orjson.loads(frame)
                if msg["type"] == "changes":
                    self.took(msg["changes"])
                elif msg["type"] == "synced":
                    self.following = True
                else:
                    self.cluster.errors.append(f"ws frame: {msg}")
                    return
                self.cursor = msg["cursor"]


def database_state(url: str, space: str) -> dict[str, tuple[int, int, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, version, seq, deleted FROM records WHERE space = %s",
                            (space,)).fetchall()
    return {rid: (version, seq, deleted) for rid, version, seq, deleted in rows}


def database_heads(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT space, seq FROM spaces").fetchall()
    return {space: seq for space, seq in rows}


def check_reader(reader: Reader, db: dict[str, tuple[int, int, bool]]) -> None:
    """Each change seen once, in seq order, each record's versions rising, and the last
    change seen of each record is its state in the database: nothing missed or repeated."""
    seqs = [c["seq"] for c in reader.seen]
    assert seqs == sorted(set(seqs)), f"{reader.space}: seqs repeated or out of order"
    last: dict[str, dict[str, Any]] = {}
    for c in reader.seen:
        assert c["space"] == reader.space
        before = last.get(c["id"])
        assert before is None or c["version"] > before["version"], (before, c)
        last[c["id"]] = c
    state = {rid: (c["version"], c["seq"], c["deleted"]) for rid, c in last.items()}
    assert state == db, f"{reader.space} via {'ws' if reader.websocket else 'http'}"


def check_acknowledged(writers: list[Writer], url: str) -> int:
    """Every acknowledged write is in the database: its record is at that version or a
    later one, and at exactly that version when the record's last change is its seq."""
    states = {space: database_state(url, space) for space in SPACES}
    count = 0
    for w in writers:
        for ack in w.acked:
            version, seq, _deleted = states[ack["space"]][ack["id"]]
            assert version >= ack["version"], ack
            assert seq >= ack["seq"], ack
            if seq == ack["seq"]:
                assert version == ack["version"], ack
            count += 1
    return count
