"""steady: every client writes a batch, pushes it, and keeps up with the feed, continuously.

A share of the clients (``--ws-ratio``) follow their spaces live over the WebSocket; the
others pull over HTTP after every ``--pull-every`` pushes (0: only at the end, which turns
the run into a pure push benchmark)."""

from __future__ import annotations

import asyncio

from load.client import SimClient
from load.scenarios.base import Scenario, bounded_gather
from load.scenarios.writes import WriteMix


class Steady(Scenario):
    name = "steady"
    description = "clients push and pull continuously"

    async def setup(self) -> None:
        s = self.settings
        self.mixes: list[WriteMix] = []
        ws_clients = round(s.clients * s.ws_ratio)
        for i in range(s.clients):
            # each client shares one home space with others (spread round-robin)
            spaces = [self.space_names[i % len(self.space_names)]]
            client = self.make_client("steady", spaces)
            self.mixes.append(WriteMix(self, client, spaces))
        await bounded_gather(self.follow(m.client) for m in self.mixes[:ws_clients])
        for feed in self.feeds.values():
            await feed.wait_synced(self.settings.settle_timeout)

    async def drive(self) -> None:
        await asyncio.gather(*(self._loop(m) for m in self.mixes))

    async def _loop(self, mix: WriteMix) -> None:
        s = self.settings
        client: SimClient = mix.client
        pushes = 0
        while self.active():
            n = self.take(s.batch_size)
            if not n:
                break
            mix.write(n)
            while client.outbox and self.active():
                if not await client.push(client.outbox[: s.batch_size]):
                    await asyncio.sleep(0.05)  # transport error: back off, keep the outbox
            pushes += 1
            if client.client_id not in self.feeds and s.pull_every and pushes % s.pull_every == 0:
                for space in mix.spaces:
                    await client.pull(space)
            if s.interval:
                await asyncio.sleep(s.interval)
