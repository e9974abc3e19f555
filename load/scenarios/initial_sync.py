"""initial-sync: seed one space with ``--records`` records, then brand-new clients pull it
from cursor zero: ``--readers`` over HTTP at once (their sum is the changefeed throughput)
and one over the WebSocket (catch-up pages until ``synced``).

``--spaces-per-client N`` > 1: a new client joins N spaces. The records are spread evenly
over the first N spaces of the pool (``--records 50000 --spaces 50 --spaces-per-client 50``:
50 spaces of 1,000 records), and each fresh reader catches all N up from the empty cursor:
over HTTP with ``POST /v1/pull`` (one page budget per request, until no space has more),
over the WebSocket with one ``subscribe`` per space sent in a burst on one socket, until
every space is ``synced``. Each figure is the time from the client's first byte (its
connection included) to the last space in sync."""

from __future__ import annotations

import asyncio
import time

from load.client import SimClient
from load.scenarios.base import Scenario


class InitialSync(Scenario):
    name = "initial-sync"
    description = "a new client pulls a large space (or N spaces) from cursor zero"
    private_spaces = False  # the readers join the pool's first N spaces

    async def drive(self) -> None:
        s = self.settings
        spaces = self.pool[:max(1, s.spaces_per_client)]
        # Seeders write but follow nothing: only the fresh readers are compared at the end.
        seeders = [self.make_client("seed", [], writes=spaces)
                   for _ in range(max(1, min(s.clients, 8)))]
        per = -(-s.records // len(seeders))
        started = time.monotonic()
        await asyncio.gather(*(self._seed(c, spaces, per) for c in seeders))
        seeded = sum(c.mid for c in seeders)
        self.stats.extra["seed"] = {
            "records": seeded,
            "seconds": round(time.monotonic() - started, 3),
        }
        if not seeded:
            return
        readers = [self.make_client("fresh", spaces) for _ in range(max(1, s.readers))]
        started = time.monotonic()

        async def read(client: SimClient) -> None:
            t0 = time.perf_counter()
            got = await (client.pull(spaces[0]) if len(spaces) == 1 else
                         client.pull_many(spaces))
            self.stats.observe("initial_sync_http", time.perf_counter() - t0)
            self.stats.count("initial_sync_records", got)

        await asyncio.gather(*(read(c) for c in readers))
        took = time.monotonic() - started
        self.stats.extra["changefeed"] = {
            "readers": len(readers),
            "spaces": len(spaces),
            "records": seeded,
            "seconds": round(took, 3),
            "changes_per_s": round(len(readers) * seeded / took, 1) if took else None,
            # the machine's monotonic clock: a script sampling the server's CPU can cut it
            "monotonic": [round(started, 3), round(started + took, 3)],
        }
        ws_reader = self.make_client("fresh-ws", spaces)
        t0 = time.perf_counter()
        feed = await self.follow(ws_reader)
        if await feed.wait_synced(max(1.0, self.time_left() + s.settle_timeout)):
            self.stats.observe("initial_sync_ws", time.perf_counter() - t0)
        else:
            self.stats.error("ws_initial_sync_timeout", ws_reader.client_id)

    async def _seed(self, client: SimClient, spaces: list[str], count: int) -> None:
        """``count`` new records, round-robin over ``spaces`` (a batch spans spaces)."""
        s = self.settings
        while count > 0 and self.active():
            n = self.take(min(max(s.batch_size, 1), count))
            if not n:
                return
            for _ in range(n):
                number = client.mid + 1
                client.write(
                    spaces[number % len(spaces)],
                    "items",
                    f"{client.client_id}-{number}",
                    "put",
                    self.payload(client, number),
                )
            count -= n
            while client.outbox and self.active():
                if not await client.push(client.outbox[: s.batch_size]):
                    await asyncio.sleep(0.05)
