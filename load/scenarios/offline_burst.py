"""offline-burst: clients go offline for a random time, keep writing into their outbox,
then reconnect and replay the outbox as one batch, the way the service worker's Background
Sync handler does. Some replays are sent twice; some lose their response and are re-sent
verbatim (same bytes, as a Workbox queue would), so the server must answer duplicates."""

from __future__ import annotations

import asyncio

from load.scenarios.base import Scenario
from load.scenarios.writes import WriteMix


class OfflineBurst(Scenario):
    name = "offline-burst"
    description = "offline periods, outbox replays, duplicate and lost-response retries"

    async def setup(self) -> None:
        self.mixes = []
        for i in range(self.settings.clients):
            spaces = self.spaces_of(i)
            self.mixes.append(WriteMix(self, self.make_client("burst", spaces), spaces))

    async def drive(self) -> None:
        await asyncio.gather(*(self._loop(m) for m in self.mixes))

    async def _loop(self, mix: WriteMix) -> None:
        s, rng, client = self.settings, mix.rng, mix.client
        while self.active():
            offline = min(rng.uniform(0, s.offline_max), self.time_left())
            # Offline: writes accumulate locally, a few at a time.
            until = asyncio.get_running_loop().time() + offline
            while self.active() and asyncio.get_running_loop().time() < until:
                step = min(0.1, until - asyncio.get_running_loop().time())
                await asyncio.sleep(max(step, 0))
                n = self.take(max(1, round(s.writes_per_s * step)))
                if n and self.chaos.mix:
                    # chains of edits of shared notes, operations on shared tallies
                    n -= min(n, self.chaos.extra_write(client, rng, mix.spaces[0]))
                mix.write(n)
            if not client.outbox:
                continue
            # Back online: replay the outbox (one batch, split only past the batch limit;
            # with chains, in batches of random sizes).
            await self.replay_outbox(client, rng, split=self.chaos.on("chains"))
            if len(mix.spaces) == 1:
                await client.pull(mix.spaces[0])
            else:
                await client.pull_many(mix.spaces)
