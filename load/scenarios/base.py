"""What every scenario shares: clients, spaces, the time and count bounds, and the
settle phase that brings every client to quiescence before the checker runs."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from load.auth import READ, WRITE, grants, mint_token
from load.chaos.mix import Chaos
from load.checker import ClientView
from load.client import SimClient
from load.memory import MemoryLog
from load.recorder import Sink
from load.replica import Replicas
from load.settings import Settings
from load.stats import Stats
from load.ws import WsFeed


async def bounded_gather(aws: Iterable[Awaitable[Any]], limit: int = 200) -> list[Any]:
    """gather() with at most ``limit`` running at once (1,000 clients connecting at the same
    instant would mostly measure the listen backlog)."""
    gate = asyncio.Semaphore(limit)

    async def one(aw: Awaitable[Any]) -> Any:
        async with gate:
            return await aw

    return await asyncio.gather(*(one(aw) for aw in aws))


class Scenario:
    name = ""
    description = ""

    def __init__(self, settings: Settings, stats: Stats, recorder: Sink) -> None:
        self.settings = settings
        self.stats = stats
        self.recorder = recorder
        self.rng = random.Random(settings.seed)
        # A fresh prefix per run: spaces never hold records from an earlier run, so any
        # record the checker finds there was written by this run.
        self.run_id = secrets.token_hex(3)
        # The shared pool (--spaces), then, with --spaces-per-client > 1, one private space
        # per client (see spaces_of). Every space of the run is in space_names: the journal
        # and the checker read them all.
        self.pool = [f"load-{self.run_id}-s{i}" for i in range(max(1, settings.spaces))]
        self.space_names = list(self.pool)
        if settings.spaces_per_client > 1 and self.private_spaces:
            self.space_names += [self.private_space(i) for i in range(self.followers())]
        self.clients: list[SimClient] = []
        self.replicas = Replicas()  # every client's confirmed copy, stored once per record
        self.client_spaces: dict[str, list[str]] = {}
        self.feeds: dict[str, WsFeed] = {}
        self._budget = settings.max_mutations
        self.deadline = time.monotonic() + settings.duration
        self.stopping = False
        pad = max(0, settings.record_size - 70)
        self._pad = "x" * pad
        self.chaos = Chaos(self)
        self.memory: MemoryLog | None = None  # set by the runner: the server's resident set

    # -- spaces -------------------------------------------------------------------------

    private_spaces = True  # initial-sync: no (its readers join the pool's first N spaces)

    def followers(self) -> int:
        """How many clients get spaces_of(i) (fanout: its subscribers)."""
        return self.settings.clients

    def private_space(self, index: int) -> str:
        return f"load-{self.run_id}-p{index}"

    def spaces_of(self, index: int) -> list[str]:
        """The spaces client ``index`` follows, deterministic from the seed.

        One space per client (the default): its home space, ``index`` mod ``--spaces``,
        shared round-robin. ``--spaces-per-client N`` > 1: N-1 distinct spaces of the shared
        pool (``--spaces``), drawn by ``random.Random(f"{seed}:{index}")``, then a private
        space of its own (``load-RUN-p{index}``), as a user has a space of their own and the
        spaces they share. Each pool space is followed by about clients x (N-1) / spaces
        clients, so its convergence is judged across clients that wrote to it."""
        n = self.settings.spaces_per_client
        if n <= 1:
            return [self.pool[index % len(self.pool)]]
        shared = random.Random(f"{self.settings.seed}:{index}").sample(self.pool, n - 1)
        return [*shared, self.private_space(index)]

    # -- bounds -------------------------------------------------------------------------

    def active(self) -> bool:
        return not self.stopping and self._budget > 0 and time.monotonic() < self.deadline

    def take(self, n: int) -> int:
        """Reserve up to ``n`` mutations from the run's budget."""
        n = max(0, min(n, self._budget))
        self._budget -= n
        return n

    def time_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    # -- clients ------------------------------------------------------------------------

    def make_client(
        self,
        role: str,
        spaces: list[str],
        writes: list[str] | None = None,
        reads: list[str] | None = None,
    ) -> SimClient:
        """A client following ``spaces``; with ``--token-secret`` its token grants exactly
        those and ``writes`` (spaces it writes without following them) read-write, and
        ``reads`` (spaces it only reads) read-only; the sub is the client id. The first
        ``--read-only-clients`` clients get their spaces read-only (an auth check: their
        pushes come back ``forbidden``)."""
        index = len(self.clients)
        client_id = f"load-{self.run_id}-{role}{index}"
        # Spread over instances so that the clients of one space (client i is in space
        # i mod spaces) sit on different instances: cross-instance delivery gets exercised.
        urls = self.settings.urls
        url = urls[(index // len(self.space_names) + index) % len(urls)]
        token = self.settings.token
        read_only = index < self.settings.read_only_clients
        if self.settings.token_secret:
            granted = grants(reads or [], READ)
            granted.update(grants([*spaces, *(writes or [])], READ if read_only else WRITE))
            token = mint_token(self.settings.token_secret, client_id, granted)
        client = SimClient(
            client_id, url, self.recorder, self.stats, token, page_limit=self.settings.page_limit,
            replicas=self.replicas,
        )
        client.expect_forbidden = read_only
        self.clients.append(client)
        self.client_spaces[client_id] = list(spaces)  # grants change it (load/grants.py)
        return client

    def checker_token(self, spaces: list[str] | None = None) -> str | None:
        """What the checker reads the feed and the conflicts audit of ``spaces`` (default:
        every space of the run) with: ``--token``, or a read-only token of its own. The
        checker asks for one per partition of the spaces: a token granting a thousand
        private spaces by name would not fit in a request's headers."""
        if not self.settings.token_secret:
            return self.settings.token
        sub = f"load-{self.run_id}-checker"
        return mint_token(self.settings.token_secret, sub,
                          grants(self.space_names if spaces is None else spaces, READ))

    async def follow(self, client: SimClient, slow: bool = False,
                     subscribe: bool = True) -> WsFeed:
        """One WebSocket for all the client's spaces: hello, then a burst of subscribe frames
        (``subscribe=False``: connected and greeted only; ``WsFeed.subscribe_all`` later)."""
        feed = WsFeed(client, self.settings.ws_client, slow=slow)
        await feed.start(self.client_spaces[client.client_id], subscribe)
        self.feeds[client.client_id] = feed
        return feed

    def payload(self, client: SimClient, n: int) -> dict[str, Any]:
        """About ``record_size`` bytes of JSON."""
        return {"title": f"{client.client_id}#{n}", "n": n, "done": False, "pad": self._pad}

    # -- phases -------------------------------------------------------------------------

    async def setup(self) -> None:
        pass

    async def drive(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        await self.setup()
        await self.chaos.setup()
        self.deadline = time.monotonic() + self.settings.duration
        started = time.monotonic()
        extra = self.chaos.tasks()
        try:
            await self.drive()
        finally:
            self.stopping = True  # the chaos tasks stop with the scenario's own clients
            await asyncio.gather(*extra, return_exceptions=True)
        self.stats.extra["drive_s"] = round(time.monotonic() - started, 3)
        # Say when --max-mutations, not the clock, ended the run.
        self.stats.extra["stopped_by"] = "max_mutations" if self._budget <= 0 else "duration"

    async def settle(self) -> None:
        """Quiescence: every outbox flushed, every feed caught up, every client pulled."""
        batch = max(1, self.settings.batch_size)
        flushed = await bounded_gather(c.flush(batch) for c in self.clients)
        if not all(flushed):
            self.stats.error("outbox_not_flushed", f"{flushed.count(False)} clients")
        targets: dict[str, int] = {}
        for client in self.clients:
            for space, seq in client.max_seq.items():
                targets[space] = max(targets.get(space, 0), seq)
        timeout = self.settings.settle_timeout
        for feed in self.feeds.values():
            await feed.hurry()  # slow consumers read at full speed from now on

        async def catch_up(feed: WsFeed) -> None:
            wanted = {s: targets[s] for s in feed.spaces if s in targets}
            if not await feed.wait_for_seq(wanted, timeout):
                self.stats.error("ws_delivery_incomplete", feed.client.client_id)
            await feed.close()

        await bounded_gather(catch_up(f) for f in self.feeds.values())
        await bounded_gather(self._final_pull(c) for c in self.clients)

    async def _final_pull(self, client: SimClient) -> None:
        # All of the client's spaces at once (POST /v1/pull), as a client following many
        # spaces catches up.
        await client.pull_many(self.client_spaces[client.client_id])

    async def replay_outbox(self, client: SimClient, rng: random.Random, split: bool) -> None:
        """Back online: replay the outbox as the service worker does, in batches (of random
        sizes when ``split``: a chain of edits spread over several batches); some replays
        are sent twice, some lose their response and are re-sent byte for byte."""
        s = self.settings
        while client.outbox:
            size = rng.randint(1, max(s.batch_size, 1)) if split else max(s.batch_size, 1)
            batch = client.outbox[:size]
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

    def views(self) -> list[ClientView]:
        return [
            ClientView(c.client_id, self.client_spaces[c.client_id], c.store) for c in self.clients
        ]

    async def close(self) -> None:
        for feed in self.feeds.values():
            await feed.close()
        await bounded_gather(c.close() for c in self.clients)
