"""fanout: N WebSocket subscribers on one space, M writers pushing over HTTP at a fixed
total rate; measures write-to-delivery latency (push sent -> change received by each
subscriber). Writers and subscribers live in this process, so one monotonic clock times both.
The figure includes this process's own decoding time, an honest upper bound for the server.

With ``--spaces-per-client K`` > 1 each subscriber follows K spaces on its one socket
(scenarios/base.py, ``spaces_of``) and the writers write to the shared pool, each write to a
space drawn at random: a change reaches that space's subscribers. The subscribers first
connect and say hello, then send their subscribe frames, so that the server's resident set
before and after the subscriptions gives its memory per subscription
(``results.subscriptions``, with the server's pid: ``--spawn`` or ``--server-pid``).

With ``--procs P`` only ``--sample`` subscribers decode and time each change here; the others
are cheap receivers spread over P processes (load/receivers.py) that count the live frames
they get: ``results.fanout`` adds them up (deliveries, their CPU) and, with the server's
pid, gives the server's CPU per delivery."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from typing import Any

from load.client import SimClient
from load.machine import cpu_sample, cpu_split
from load.receivers import ReceiverProcesses
from load.scenarios.base import Scenario, bounded_gather
from load.server_metrics import read_metrics

LIVE_METRICS = "syncserver_ws_live_"  # frames sent and the socket writes that took them
SETTLE_RSS_S = 1.0  # a pause before each reading of the server's resident set
RECEIVERS_SETTLE_S = 0.5  # after the last write, before the receivers' counts are taken


def shares_of(s: Any) -> list[int]:
    """The cheap receivers per process (--procs), as even as they go."""
    cheap = s.subscribers - min(s.sample, s.subscribers)
    procs = min(s.procs, cheap)
    return [cheap // procs + (1 if i < cheap % procs else 0) for i in range(procs)]


class Fanout(Scenario):
    name = "fanout"
    description = "N WebSocket subscribers, M writers, write-to-delivery latency"

    receivers: ReceiverProcesses | None = None

    def followers(self) -> int:
        return self.settings.subscribers

    def decoding(self) -> int:
        """Subscribers of this process (the rest: cheap receivers, with --procs)."""
        s = self.settings
        return min(s.sample, s.subscribers) if s.procs > 0 else s.subscribers

    async def setup(self) -> None:
        s = self.settings
        many = s.spaces_per_client > 1
        # one space for everyone (the classic benchmark), or each subscriber's own K
        self.targets = self.pool if many else self.pool[:1]
        self.subscribers = [self.make_client("sub", self.spaces_of(i) if many else self.targets)
                            for i in range(self.decoding())]
        self.writers = [self.make_client("pub", [] if many else self.targets,
                                         writes=self.targets if many else None)
                        for _ in range(max(1, s.writers))]
        self.sent_at: dict[str, tuple[float, str]] = {}  # record id: when, through which URL
        for sub in self.subscribers:
            sub.on_change = functools.partial(self._delivered, sub.url)
        before = await self._server_rss()
        await bounded_gather(self.follow(c, subscribe=False) for c in self.subscribers)
        connected = await self._server_rss()
        started = time.monotonic()
        await bounded_gather(feed.subscribe_all() for feed in self.feeds.values())
        for feed in self.feeds.values():
            await feed.wait_synced(max(1.0, s.settle_timeout - (time.monotonic() - started)))
        self.stats.extra["subscribed_s"] = round(time.monotonic() - started, 3)
        self._subscription_memory(before, connected, await self._server_rss())
        if s.subscribers > self.decoding():  # (their memory is not in the figures above)
            self.receivers = ReceiverProcesses()
            await self.receivers.start(s.urls[0], shares_of(s), self.targets[0])

    async def _server_rss(self) -> float | None:
        if self.memory is None or self.memory.server_pid is None:
            return None
        await asyncio.sleep(SETTLE_RSS_S)
        _tool, server = self.memory.now()
        return server

    def _subscription_memory(self, before: float | None, connected: float | None,
                             subscribed: float | None) -> None:
        """The server's resident set before the subscribers connected, once they said hello,
        and once every subscription is synced: KB per connection and per subscription."""
        connections = len(self.feeds)
        subscriptions = sum(len(feed.spaces) for feed in self.feeds.values())
        figures: dict[str, float | int | None] = {
            "connections": connections, "subscriptions": subscriptions,
            "server_rss_mb_before": before, "server_rss_mb_connected": connected,
            "server_rss_mb_subscribed": subscribed,
            "kb_per_connection": None, "kb_per_subscription": None,
        }
        if before is not None and connected is not None and subscribed is not None:
            figures["kb_per_connection"] = round((connected - before) * 1024 / connections, 2)
            figures["kb_per_subscription"] = round(
                (subscribed - connected) * 1024 / max(1, subscriptions), 2)
        self.stats.extra["subscriptions"] = figures

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
        pid = self.memory.server_pid if self.memory is not None else None
        url = self.settings.urls[0]
        live_before = await read_metrics(url, LIVE_METRICS)
        before = cpu_sample(pid)
        sampled = self.stats.totals["deliveries"]
        await asyncio.gather(*(self._loop(i, w) for i, w in enumerate(self.writers)))
        await asyncio.sleep(RECEIVERS_SETTLE_S)  # the last writes' frames arrive
        counted = {"live": 0.0, "cpu_s": 0.0}
        if self.receivers is not None:
            counted = await self.receivers.stop()
        cpu = cpu_split(before, cpu_sample(pid))
        self._figures(cpu, self.stats.totals["deliveries"] - sampled, counted)
        self._writes(live_before, await read_metrics(url, LIVE_METRICS))

    def _writes(self, before: dict[str, float], after: dict[str, float]) -> None:
        """Live frames per socket write over the writers' run (the server's counters, of
        the first URL's instance; None: a server without them)."""
        def delta(name: str) -> float | None:
            key = f"{LIVE_METRICS}{name}_total"
            return after[key] - before.get(key, 0.0) if key in after else None

        frames, writes = delta("frames_sent"), delta("writes")
        figures = self.stats.extra["fanout"]
        figures["live_frames_sent"] = frames
        figures["live_writes"] = writes
        figures["frames_per_write"] = round(frames / writes, 2) \
            if frames is not None and writes else None

    def _figures(self, cpu: dict[str, Any], sampled: int, receivers: dict[str, float]) -> None:
        """``results.fanout``: deliveries over the writers' run (the sample's and the
        receivers'), their latency (the sample's), and each side's CPU over that run."""
        deliveries = sampled + int(receivers["live"])
        latency = self.stats.latency
        delivery, push = latency["delivery"].summary(), latency["push"].summary()
        server = cpu.get("server_cpu_s")
        tool = cpu["tool_cpu_s"] + receivers["cpu_s"]
        self.stats.extra["fanout"] = {
            "subscribers": self.settings.subscribers, "sample": self.decoding(),
            "procs": len(shares_of(self.settings)) if self.receivers is not None else 0,
            "wall_s": cpu["wall_s"], "deliveries": deliveries,
            "deliveries_per_s": round(deliveries / cpu["wall_s"], 1),
            "delivery_p50_ms": delivery.get("p50_ms"), "delivery_p99_ms": delivery.get("p99_ms"),
            "push_p99_ms": push.get("p99_ms"),
            "server_cpu_s": server, "tool_cpu_s": round(tool, 3),
            "receivers_cpu_s": round(receivers["cpu_s"], 3),
            "server_us_per_delivery": round(server / deliveries * 1e6, 2)
            if server is not None and deliveries else None,
            "tool_us_per_delivery": round(tool / deliveries * 1e6, 2) if deliveries else None,
        }

    async def close(self) -> None:
        if self.receivers is not None:
            self.receivers.kill()
        await super().close()

    async def _loop(self, index: int, writer: SimClient) -> None:
        period = len(self.writers) / max(self.settings.rate, 0.001)
        rng = random.Random(f"{self.settings.seed}:writer{index}")
        next_at = time.monotonic() + period * index / len(self.writers)
        n = 0
        while self.active() and self.take(1):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            n += 1
            rid = f"{writer.client_id}-{n}"
            space = self.targets[rng.randrange(len(self.targets))]
            writer.write(space, "events", rid, "put", self.payload(writer, n))
            self.sent_at[rid] = (time.perf_counter(), writer.url)
            await writer.push(writer.outbox[:])
