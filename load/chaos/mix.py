"""The chaos mix inside a scenario: shared records to fight over, slow WebSocket consumers,
hostile clients, and the writes that scenarios interleave with their own."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Protocol

from load.chaos import parse_mix
from load.chaos.edits import NOTES, TALLIES, chain, tally_write
from load.chaos.poison import poison_mutation
from load.chaos.probes import WS_PROBES, http_probes, run_http_probe, run_ws_probe
from load.client import SimClient
from load.recorder import Sink
from load.replica import Key
from load.settings import Settings
from load.stats import Stats
from load.ws import WsFeed


class Scenario(Protocol):
    """What the chaos mix uses of the scenario it runs in (scenarios/base.py), declared
    here so that the mix does not import the scenario that imports it."""

    settings: Settings
    stats: Stats
    recorder: Sink
    rng: random.Random
    pool: list[str]  # the shared spaces (with --spaces-per-client > 1, not the private ones)
    clients: list[SimClient]
    client_spaces: dict[str, list[str]]

    def active(self) -> bool: ...

    def make_client(self, role: str, spaces: list[str], writes: list[str] | None = None,
                    reads: list[str] | None = None) -> SimClient: ...

    async def follow(self, client: SimClient, slow: bool = False) -> WsFeed: ...

SHARED = 3  # tallies and notes per space
# With slow consumers, one writer keeps rewriting a few bulky records, so that a consumer
# that stops reading for a second or two falls behind by megabytes: on loopback the
# server's socket send buffer alone holds 1-3 MB (64 KB segments), and only past it does
# the server's queue fill up and the slow-consumer rule fire.
BULK_BYTES = 32_000
BULK_RATE = 15.0  # batches of 4 bulky writes per second: about 2 MB/s of feed


class Chaos:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.mix = parse_mix(scenario.settings.mix)
        self.rng = random.Random(scenario.rng.random())
        self.hostile: list[SimClient] = []
        self.bulk: SimClient | None = None

    def on(self, name: str) -> bool:
        return name in self.mix

    def tallies(self, space: str) -> list[Key]:
        return [(space, TALLIES, f"tally-{i}") for i in range(SHARED)] if self.on("ops") else []

    def notes(self, space: str) -> list[Key]:
        return [(space, NOTES, f"note-{i}") for i in range(SHARED)]

    async def setup(self) -> None:
        if not self.mix:
            return
        s = self.scenario
        creator = s.make_client("seed", list(s.pool))
        for space in s.pool:
            for key in self.tallies(space):
                creator.write(*key, "put", {"likes": 0, "tags": []})
            for key in self.notes(space):
                creator.write(*key, "put", {"title": "new", "body": "", "done": False})
        await creator.flush(s.settings.batch_size)
        if self.on("slow"):
            for _ in range(s.settings.slow_consumers):
                # every space: an overflow must not lose the other spaces' changes
                await s.follow(s.make_client("slow", list(s.pool)), slow=True)
            self.bulk = s.make_client("bulk", list(s.pool))
        if self.on("hostile"):
            for i in range(s.settings.hostile_clients):
                space = s.pool[i % len(s.pool)]
                other = s.pool[(i + 1) % len(s.pool)]  # its probes read it
                self.hostile.append(s.make_client("hostile", [space], reads=[other]))

    def tasks(self) -> list[asyncio.Task[None]]:
        tasks = [asyncio.create_task(self._hostile(c, i)) for i, c in enumerate(self.hostile)]
        if self.bulk is not None:
            tasks.append(asyncio.create_task(self._bulk(self.bulk)))
        return tasks

    async def _bulk(self, client: SimClient) -> None:
        s, n = self.scenario, 0
        pad = "y" * BULK_BYTES
        while s.active():
            for _ in range(4):
                n += 1
                space = s.pool[n % len(s.pool)]
                client.write(space, "bulk", f"bulk-{n % 5}", "put", {"n": n, "pad": pad})
            if not await client.push(client.outbox[: s.settings.batch_size]):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1 / BULK_RATE)

    # -- writes that scenarios interleave ------------------------------------------------

    def extra_write(self, client: SimClient, rng: random.Random, space: str) -> int:
        """Maybe one tally operation or one chain of note edits; returns writes queued."""
        roll = rng.random()
        if self.on("ops") and roll < 0.3:
            key = rng.choice(self.tallies(space))
            if client.view(key) is None:
                return 0  # not received yet: an app only counts on what it shows
            _space, _collection, tally = key
            tally_write(client, rng, space, tally)
            return 1
        if self.on("chains") and roll < 0.5:
            _space, _collection, note = rng.choice(self.notes(space))
            return chain(client, rng, space, note)
        return 0

    # -- hostile clients -----------------------------------------------------------------

    def _innocent(self, client: SimClient, rng: random.Random, key: Key) -> None:
        space, collection, rid = key
        if collection == TALLIES:
            tally_write(client, rng, space, rid)
        else:
            client.write(*key, "patch", {"title": f"{client.client_id}:{client.mid + 1}"})

    async def _hostile(self, client: SimClient, index: int) -> None:
        s, rng = self.scenario, random.Random(self.rng.random())
        space = s.client_spaces[client.client_id][0]
        other = s.pool[(index + 1) % len(s.pool)]
        targets = self.notes(space) + self.tallies(space)
        probes: list[str] = sorted(http_probes(client.client_id, space)) + sorted(WS_PROBES)
        rng.shuffle(probes)
        neighbour = s.clients[0].client_id  # whose HLC node a spoofed stamp borrows
        next_probe = time.monotonic()
        while s.active():
            key = rng.choice(targets)
            self._innocent(client, rng, key)
            confirmed = client.store.get(key)
            client.queue_raw(poison_mutation(rng, key, confirmed["version"] if confirmed else 0,
                                             client.hlc.stamp(), neighbour))
            self._innocent(client, rng, key)
            s.stats.count("poison_sent")
            if not await client.push(client.outbox[: s.settings.batch_size]):
                await asyncio.sleep(0.05)
            await client.pull(space)
            if probes and time.monotonic() >= next_probe:
                await self._probe(client, probes.pop(), space, other)
                next_probe = time.monotonic() + 0.2
            await asyncio.sleep(rng.uniform(0.05, 0.2))

    async def _probe(self, client: SimClient, name: str, space: str, other: str) -> None:
        s = self.scenario
        s.stats.count("probes_sent")
        if name in WS_PROBES:
            await run_ws_probe(client.url, s.recorder, name, client.client_id, (space, other),
                               token=client.token)
        else:
            method, path, body = http_probes(client.client_id, space)[name]
            await run_http_probe(client.conn, s.recorder, name, method, path, body)
