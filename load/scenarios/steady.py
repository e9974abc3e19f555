"""steady: every client writes a batch, pushes it, and keeps up with the feed, continuously.

A share of the clients (``--ws-ratio``) follow their spaces live over the WebSocket (one
socket, one subscription per space); the others pull over HTTP after every
``--pull-every`` pushes (0: only at the end, which turns the run into a pure push
benchmark), all their spaces in one ``POST /v1/pull`` when they follow several. A batch
spreads its new records over the client's spaces (``--spaces-per-client``: a batch may span
spaces). ``--revocations``: token refreshes take spaces away and give them back
(load/grants.py)."""

from __future__ import annotations

import asyncio

from load.client import SimClient
from load.grants import Refresher, check_ended, plan
from load.scenarios.base import Scenario, bounded_gather
from load.scenarios.writes import WriteMix


class Steady(Scenario):
    name = "steady"
    description = "clients push and pull continuously"

    async def setup(self) -> None:
        s = self.settings
        self.mixes: list[WriteMix] = []
        self.refreshers: dict[str, Refresher] = {}
        ws_clients = round(s.clients * s.ws_ratio)
        assigned = {i: self.spaces_of(i) for i in range(s.clients)}
        plans = plan(s, assigned) if s.revocations else {}
        for i in range(s.clients):
            client = self.make_client("steady", assigned[i])
            mix = WriteMix(self, client, assigned[i])
            self.mixes.append(mix)
            if i in plans:
                self.refreshers[client.client_id] = Refresher(self, client, mix, plans[i])
        await bounded_gather(self.follow(m.client) for m in self.mixes[:ws_clients])
        for feed in self.feeds.values():
            await feed.wait_synced(self.settings.settle_timeout)

    async def drive(self) -> None:
        for refresher in self.refreshers.values():
            refresher.begin()
        await asyncio.gather(*(self._loop(m) for m in self.mixes))

    async def _loop(self, mix: WriteMix) -> None:
        s = self.settings
        client: SimClient = mix.client
        refresher = self.refreshers.get(client.client_id)
        pushes = 0
        while self.active():
            if refresher is not None:
                await refresher.due()
            n = self.take(s.batch_size)
            if not n:
                break
            mix.write(n)
            while client.outbox and self.active():
                if not await client.push(client.outbox[: s.batch_size]):
                    await asyncio.sleep(0.05)  # transport error: back off, keep the outbox
            pushes += 1
            if client.client_id not in self.feeds and s.pull_every and pushes % s.pull_every == 0:
                if len(mix.spaces) == 1:
                    await client.pull(mix.spaces[0])
                else:
                    await client.pull_many(mix.spaces)
            if s.interval:
                await asyncio.sleep(s.interval)
        if refresher is not None:
            await refresher.due(all_of_them=True)  # the load ended first: end as planned

    async def settle(self) -> None:
        await check_ended(self)
        await super().settle()
