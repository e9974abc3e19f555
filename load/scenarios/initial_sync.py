"""initial-sync: seed one space with ``--records`` records, then brand-new clients pull it
from cursor zero: ``--readers`` over HTTP at once (their sum is the changefeed throughput)
and one over the WebSocket (catch-up pages until ``synced``)."""

from __future__ import annotations

import asyncio
import time

from load.client import SimClient
from load.scenarios.base import Scenario


class InitialSync(Scenario):
    name = "initial-sync"
    description = "a new client pulls a large space from cursor zero"

    async def drive(self) -> None:
        s = self.settings
        space = self.space_names[0]
        # Seeders write but follow nothing: only the fresh readers are compared at the end.
        seeders = [self.make_client("seed", [], writes=[space])
                   for _ in range(max(1, min(s.clients, 8)))]
        per = -(-s.records // len(seeders))
        started = time.monotonic()
        await asyncio.gather(*(self._seed(c, space, per) for c in seeders))
        seeded = sum(c.mid for c in seeders)
        self.stats.extra["seed"] = {
            "records": seeded,
            "seconds": round(time.monotonic() - started, 3),
        }
        if not seeded:
            return
        readers = [self.make_client("fresh", [space]) for _ in range(max(1, s.readers))]
        started = time.monotonic()

        async def read(client: SimClient) -> None:
            t0 = time.perf_counter()
            got = await client.pull(space)
            self.stats.observe("initial_sync_http", time.perf_counter() - t0)
            self.stats.count("initial_sync_records", got)

        await asyncio.gather(*(read(c) for c in readers))
        took = time.monotonic() - started
        self.stats.extra["changefeed"] = {
            "readers": len(readers),
            "records": seeded,
            "seconds": round(took, 3),
            "changes_per_s": round(len(readers) * seeded / took, 1) if took else None,
            # the machine's monotonic clock: a script sampling the server's CPU can cut it
            "monotonic": [round(started, 3), round(started + took, 3)],
        }
        ws_reader = self.make_client("fresh-ws", [space])
        t0 = time.perf_counter()
        feed = await self.follow(ws_reader)
        if await feed.wait_synced(max(1.0, self.time_left() + s.settle_timeout)):
            self.stats.observe("initial_sync_ws", time.perf_counter() - t0)
        else:
            self.stats.error("ws_initial_sync_timeout", ws_reader.client_id)

    async def _seed(self, client: SimClient, space: str, count: int) -> None:
        s = self.settings
        while count > 0 and self.active():
            n = self.take(min(max(s.batch_size, 1), count))
            if not n:
                return
            for _ in range(n):
                number = client.mid + 1
                client.write(
                    space,
                    "items",
                    f"{client.client_id}-{number}",
                    "put",
                    self.payload(client, number),
                )
            count -= n
            while client.outbox and self.active():
                if not await client.push(client.outbox[: s.batch_size]):
                    await asyncio.sleep(0.05)
