"""contention: many clients edit the same few records and fields at once.

Each client patches one field of a hot record, based on the version it last saw; a client
that does not know a record yet creates it (so creation races too); and a third of the
writes increment shared counters (``$inc``), which must never conflict nor be lost. Stale
writes come back as ``conflict`` (``stale_base_version``: the server kept its record) or as
``merged`` per the collection's policy; the checker accepts both, as recorded outcomes.
Half the clients follow the space over the WebSocket, so they learn new versions sooner."""

from __future__ import annotations

import asyncio
import random
import time

from load.client import SimClient
from load.scenarios.base import Scenario, bounded_gather


class Contention(Scenario):
    name = "contention"
    description = "many clients edit the same few records and fields concurrently"

    async def setup(self) -> None:
        space = self.space_names[0]
        self.hot = [f"hot-{i}" for i in range(max(1, self.settings.hot_records))]
        self.field_names = [f"f{i}" for i in range(max(1, self.settings.fields))]
        self.writers = [self.make_client("hot", [space]) for _ in range(self.settings.clients)]
        # Counters: created once here, then only incremented by everyone ($inc never
        # conflicts), so the checker can prove each acknowledged increment counted once.
        self.counters = [f"counter-{i}" for i in range(len(self.hot))]
        creator = self.writers[0]
        for rid in self.counters:
            creator.write(space, "counters", rid, "put", {"count": 0})
        await creator.flush(self.settings.batch_size)
        await bounded_gather(self.follow(c) for c in self.writers[: len(self.writers) // 2])

    async def drive(self) -> None:
        await asyncio.gather(*(self._loop(c) for c in self.writers))

    async def _loop(self, client: SimClient) -> None:
        rng = random.Random(self.rng.random())
        space = self.space_names[0]
        chaos = self.chaos
        offline_until = 0.0
        while self.active():
            for _ in range(self.take(rng.randint(1, 3))):
                if chaos.mix and chaos.extra_write(client, rng, space):
                    continue
                rid = self.counters[rng.randrange(len(self.counters))]
                if rng.random() < 0.3 and client.view((space, "counters", rid)) is not None:
                    # like an app, increment a counter it has (an increment whose writer had
                    # not seen the counter's creation is absorbed by it, docs/conflicts.md)
                    client.write(space, "counters", rid, "patch", {"count": {"$inc": 1}})
                    continue
                rid = self.hot[rng.randrange(len(self.hot))]
                current = client.view((space, "docs", rid))
                value = f"{client.client_id}:{client.mid + 1}"
                if current is None or current["deleted"]:
                    client.write(space, "docs", rid, "put", {f: value for f in self.field_names})
                else:
                    field = self.field_names[rng.randrange(len(self.field_names))]
                    client.write(space, "docs", rid, "patch", {field: value})
            now = time.monotonic()
            if chaos.on("chains") and now >= offline_until and rng.random() < 0.05:
                # the device drops offline: its edits queue up into chains
                offline_until = now + rng.uniform(0.2, 1.0)
            if now < offline_until:
                await asyncio.sleep(rng.uniform(0.02, 0.05))
                continue
            if chaos.on("chains"):
                await self.replay_outbox(client, rng, split=True)
            elif client.outbox and not await client.push(
                client.outbox[: self.settings.batch_size]
            ):
                await asyncio.sleep(0.05)
            if client.client_id not in self.feeds:
                await client.pull(space)
            await asyncio.sleep(rng.uniform(0, 0.01))  # let the others interleave
