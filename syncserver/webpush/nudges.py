"""Sync nudges: after this instance commits a change in a space, each device subscribed to
it gets `{"type": "sync", "space", "head"}`, so that its service worker pulls while the app
is closed. Never record data: a nudge says where the feed is, the device reads the rest
with its own token.

Not nudged: the device that wrote the change (the push batch's client id; when several
devices wrote since the last look, each of them is nudged for the others' changes), and a
device connected here live on a WebSocket that follows the space (it has the change as a
frame already). Changes committed by other instances, which the fan-out publishes here,
are not seen here at all (Notifier.on_commit): with several instances on one database each
change is nudged once, by the instance that committed it.

New records (--webpush-notify-new): when a change creates records in a collection declared
to notify, the nudge also carries `new`, the number of records created per such collection
since the device's last nudge (summed over the commits a held nudge coalesces), and `title`,
the declared title of the collection with the most (a tie: the one declared first), for the
service worker's notification. Counts, never data; and not for records the device's own user
created (that user's other devices get a plain nudge).

A device is nudged at most once per --webpush-min-interval for one space: changes within
the interval are held, and one nudge with the newest head goes out when it ends. The
subscriptions of a space are read when a change is committed in it (one read per batch of
commits that arrive while the last read runs), never for a space without any (index.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from ..config.metrics import Metrics
from ..storage.base import Storage
from ..storage.push_subscriptions import PushSubscriptionRow
from .index import SpaceIndex
from .sender import Push, Sender, topic

log = logging.getLogger("syncserver.webpush")
URGENCY = "normal"  # a nudge is worth waking a phone for, not worth its battery at once


class LiveDevices(Protocol):
    """What the nudges ask the WebSocket side (transport/ws/live.py)."""

    def follows(self, sub: str, client_id: str, space: str) -> bool:
        """The device is connected here on a WebSocket subscribed to `space`."""


Counts = dict[str, int]  # collection -> records created


@dataclass
class _Committed:
    head: int
    writers: set[str | None] = field(default_factory=set)
    new: dict[str | None, Counts] = field(default_factory=dict)  # by the creating user


def add(into: Counts, counts: Counts) -> Counts:
    for collection, n in counts.items():
        into[collection] = into.get(collection, 0) + n
    return into


Device = tuple[str, str, str]  # (user, client id, space)


class Nudger:
    def __init__(self, storage: Storage, index: SpaceIndex, live: LiveDevices, sender: Sender,
                 metrics: Metrics, interval: float, ttl: int,
                 titles: dict[str, str] | None = None) -> None:
        self.storage = storage
        self.index = index
        self.live = live
        self.sender = sender
        self.metrics = metrics
        self.interval = interval
        self.ttl = ttl
        self.titles = titles or {}  # the collections declared to notify, in declared order
        self._committed: dict[str, _Committed] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last: dict[Device, float] = {}  # devices nudged within their interval
        self._held: dict[Device, tuple[PushSubscriptionRow, int, Counts]] = {}
        self._timers: dict[Device, asyncio.TimerHandle] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def committed(self, space: str, head: int, client_id: str | None, sub: str | None = None,
                  new: Counts | None = None) -> None:
        """The notifier's commit listener: the hot path of every push, so one set lookup
        for a space nobody subscribed to. `new`: the records `sub` created, per declared
        collection (the push's own dict: copied, never kept)."""
        if space not in self.index:
            return
        pending = self._committed.get(space)
        if pending is None:
            pending = self._committed[space] = _Committed(head)
        pending.head = max(pending.head, head)
        pending.writers.add(client_id)
        if new:
            add(pending.new.setdefault(sub, {}), new)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._committed:
                space, pending = next(iter(self._committed.items()))
                del self._committed[space]
                try:
                    subscriptions = await self.storage.push_subscriptions(space)
                except Exception as exc:  # the database is away: this batch is not nudged
                    log.warning("could not read the push subscriptions of a space: %s", exc)
                    continue
                for subscription in subscriptions:
                    if pending.writers == {subscription.client_id}:
                        continue  # its own change
                    await self.sender.room()  # a full queue: the senders make room
                    new: Counts = {}
                    for creator, counts in pending.new.items():
                        if creator != subscription.sub:  # not its own user's records
                            add(new, counts)
                    self._nudge(subscription, space, pending.head, new)

    def _nudge(self, subscription: PushSubscriptionRow, space: str, head: int,
               new: Counts) -> None:
        device = (subscription.sub, subscription.client_id, space)
        if self.live.follows(*device):
            return
        now = time.monotonic()
        last = self._last.get(device)
        if last is None or now - last >= self.interval:
            self._send(device, subscription, head, new)
            return
        held = self._held.get(device)
        if held is not None:
            head = max(head, held[1])
            new = add(held[2], new)
        self._held[device] = (subscription, head, new)
        self.metrics.webpush_coalesced.inc()

    def _send(self, device: Device, subscription: PushSubscriptionRow, head: int,
              new: Counts) -> None:
        message: dict[str, object] = {"type": "sync", "space": device[2], "head": head}
        if new:
            message["new"] = new
            message["title"] = self.titles[self._most(new)]
        payload = orjson.dumps(message)
        push = Push(subscription, payload, "sync", URGENCY, self.ttl, topic("sync", device[2]))
        if not self.sender.enqueue(push):
            self.metrics.webpush_coalesced.inc()  # replaced one still waiting
        if self.interval > 0:
            self._last[device] = time.monotonic()
            self._timers[device] = asyncio.get_running_loop().call_later(
                self.interval, self._interval_over, device)

    def _most(self, new: Counts) -> str:
        """The collection with the most new records; a tie: the one declared first."""
        order = {name: i for i, name in enumerate(self.titles)}
        return min(new, key=lambda c: (-new[c], order.get(c, len(order))))

    def _interval_over(self, device: Device) -> None:
        self._timers.pop(device, None)
        held = self._held.pop(device, None)
        if held is None or self.live.follows(*device):
            self._last.pop(device, None)
            return
        self._send(device, *held)
