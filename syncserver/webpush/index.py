"""The spaces that have at least one push subscription, kept in memory: a commit in any
other space costs the nudge hook one set lookup, no database read.

Loaded at start; a registration through this instance adds its spaces at once. Every save
and delete stores a new `webpush_version` in the database (storage/push_subscriptions.py),
and every --fanout-catchup-interval seconds this instance reads that one row and, when it
changed, the set again: so a subscription registered through another instance (PostgreSQL)
is nudged by this one from then on, and a space whose last subscription went is dropped.
The set may hold a space with no subscription left for up to that interval: its commits
then cost one read of its (empty) subscriptions, never a missed nudge.
"""

from __future__ import annotations

import asyncio
import logging

from ..config.metrics import Metrics
from ..storage.base import Storage

log = logging.getLogger("syncserver.webpush")


class SpaceIndex:
    def __init__(self, storage: Storage, metrics: Metrics, interval: float) -> None:
        self.storage = storage
        self.metrics = metrics
        self.interval = interval
        self.spaces: set[str] = set()
        self.version: str | None = None
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, space: str) -> bool:
        return space in self.spaces

    async def load(self) -> None:
        self.version, self.spaces = await self.storage.push_spaces()
        self.metrics.webpush_space_count.set(len(self.spaces))

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def add(self, spaces: tuple[str, ...]) -> None:
        self.spaces.update(spaces)
        self.metrics.webpush_space_count.set(len(self.spaces))

    async def check(self) -> None:
        """Reload the set if a save or delete anywhere changed it."""
        if await self.storage.push_version() != self.version:
            await self.load()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as exc:  # the database is away: next time
                log.warning("could not reload the spaces with push subscriptions: %s", exc)
