"""fanout: N WebSocket subscribers on one space, M writers pushing over HTTP at a fixed
total rate; measures write-to-delivery latency (push sent -> change received by each
subscriber). Writers and subscribers live in this process, so one monotonic clock times both.
The figure includes this process's own decoding time, an honest upper bound for the server."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from load.client import SimClient
from load.scenarios.base import Scenario, bounded_gather


class Fanout(Scenario):
    name = "fanout"
    description = "N WebSocket subscribers, M writers, write-to-delivery latency"

    async def setup(self) -> None:
        s = self.settings
        self.space = self.space_names[0]
        self.subscribers = [self.make_client("sub", [self.space]) for _ in range(s.subscribers)]
        self.writers = [self.make_client("pub", [self.space]) for _ in range(max(1, s.writers))]
        self.sent_at: dict[str, tuple[float, str]] = {}  # record id: when, through which URL
        for sub in self.subscribers:
            sub.on_change = functools.partial(self._delivered, sub.url)
        await bounded_gather(self.follow(c) for c in self.subscribers)
        started = time.monotonic()
        for feed in self.feeds.values():
            await feed.wait_synced(max(1.0, s.settle_timeout - (time.monotonic() - started)))
        self.stats.extra["subscribed_s"] = round(time.monotonic() - started, 3)

    def _delivered(self, url: str, change: dict[str, Any], now: float) -> None:
        sent = self.sent_at.get(change["id"])
        if sent is not None and change["version"] == 1:
            at, origin = sent
            self.stats.observe("delivery", now - at)
            self.stats.count("deliveries")
            if len(self.settings.urls) > 1:
                # Several instances: a subscriber of another instance than the writer's is
                # reached through PostgreSQL's NOTIFY, one of the same instance directly.
                same = "delivery_same_instance" if url == origin else "delivery_cross_instance"
                self.stats.observe(same, now - at)

    async def drive(self) -> None:
        await asyncio.gather(*(self._loop(i, w) for i, w in enumerate(self.writers)))

    async def _loop(self, index: int, writer: SimClient) -> None:
        period = len(self.writers) / max(self.settings.rate, 0.001)
        next_at = time.monotonic() + period * index / len(self.writers)
        n = 0
        while self.active() and self.take(1):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            n += 1
            rid = f"{writer.client_id}-{n}"
            writer.write(self.space, "events", rid, "put", self.payload(writer, n))
            self.sent_at[rid] = (time.perf_counter(), writer.url)
            await writer.push(writer.outbox[:])
