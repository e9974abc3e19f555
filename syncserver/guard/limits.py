"""Bounds under hostile load (docs/guarantees.md, guarantee 12): counters of things held open at
once, and the byte budget of what waits to go out on one WebSocket.

Each bound says what happens at the limit in docs/protocol.md ("Limits"): a long-poll over
the limit answers at once as a plain pull, a WebSocket handshake over the limit is refused
with 503 and Retry-After, a connection over its queued bytes is a slow consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque

# What a client is told to wait before it tries again when the server is full.
FULL_RETRY_AFTER_SECONDS = 5
# Deadlines run up to this fraction longer, at random: connections an attacker opened
# together (a thousand slowloris, a thousand slow readers) would otherwise all time out
# in one turn of the event loop, and every other client would wait for that turn
# (measured with load/hostile.py: 0.3-1 s push stalls at each such burst).
SPREAD = 0.25


def spread(seconds: float) -> float:
    """A deadline of `seconds`, made up to SPREAD longer at random."""
    return seconds * (1 + random.random() * SPREAD)


class Gate:
    """How many of something are held at once, up to `capacity`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def enter(self) -> bool:
        """Take a place: False (and nothing taken) when the gate is full."""
        if self.held >= self.capacity:
            return False
        self.held += 1
        return True

    def leave(self) -> None:
        self.held -= 1


class ByteBudget:
    """Bytes of frames queued for one connection and not yet written to its socket.

    A producer that can wait (catch-up pages, replies) waits for room; a frame goes in
    whenever the queue is empty, so one frame larger than the budget still goes out. The
    live fan-out cannot wait: it asks `fits` and, when there is no room, keeps the batch
    pending (itself bounded: see ws/outbox.py)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        # Made by the first producer that waits for room: every connection has a budget,
        # few ever wait (an Event is 0.9 KB, idle).
        self._room: asyncio.Event | None = None

    def fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.capacity

    async def reserve(self, size: int) -> None:
        while not self.fits(size):
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()
        self.used += size

    def take(self, size: int) -> None:
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size
        if self._room is not None:
            self._room.set()


class PagePool:
    """Bytes of changes pages (HTTP pulls, WebSocket catch-up) read from storage and not yet
    taken by their clients, over all connections (SYNCSERVER_MAX_PAGES_IN_FLIGHT_BYTES).

    Per-connection budgets alone let a thousand clients that never read hold a thousand
    pages. Here a page is charged before it is read: a reader waits until at least `least`
    bytes are free (room for the largest change), then takes up to what it would fill, and
    gives back what the page did not use; the rest goes back once the client has taken the
    page (or its connection ended). So the pages held at once never pass `capacity`.
    Waiters are served in order, each woken only when its room is there (thousands wait
    while stalled clients hold the pool: waking them all on every release cost O(n))."""

    def __init__(self, capacity: int, least: int) -> None:
        self.capacity = capacity
        self.least = min(least, capacity)
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[int]]] = deque()

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def try_take(self, wanted: int) -> int | None:
        """take() without waiting: None when there is no room now (or others wait)."""
        if self._waiting or self.free < min(wanted, self.least):
            return None
        taken = min(wanted, self.free)
        self.used += taken
        return taken

    async def take(self, wanted: int) -> int:
        """Wait for room, then take min(wanted, free) bytes (at least `least`, or `wanted`
        when that is less): the byte limit of the page about to be read."""
        taken = self.try_take(wanted)
        if taken is not None:
            return taken
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry = (wanted, waiter)
        self._waiting.append(entry)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give_back(waiter.result())  # granted as it was cancelled
            else:
                with contextlib.suppress(ValueError):  # (already dropped by _wake)
                    self._waiting.remove(entry)
                self._wake()
            raise

    def give_back(self, size: int) -> None:
        if size > 0:
            self.used -= size
            self._wake()

    def _wake(self) -> None:
        while self._waiting:
            wanted, waiter = self._waiting[0]
            if waiter.done():
                self._waiting.popleft()
                continue
            if self.free < min(wanted, self.least):
                return
            self._waiting.popleft()
            taken = min(wanted, self.free)
            self.used += taken
            waiter.set_result(taken)
