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
            spaces = [self.space_names[i % len(self.space_names)]]
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
                mix.write(self.take(max(1, round(s.writes_per_s * step))))
            if not client.outbox:
                continue
            # Back online: replay the outbox (one batch, split only past the batch limit).
            while client.outbox:
                batch = client.outbox[: max(s.batch_size, 1)]
                body = client.build_push(batch)
                roll = rng.random()
                if roll < s.drop_response:
                    self.stats.count("lost_responses")
                    await client.push(batch, drop_response=True, body=body)
                elif roll < s.drop_response + s.replay_twice:
                    self.stats.count("double_sends")
                    await client.push(batch, body=body)
                if not await client.push(batch, body=body):
                    await asyncio.sleep(0.05)
                    if not self.active():
                        break
            for space in mix.spaces:
                await client.pull(space)
