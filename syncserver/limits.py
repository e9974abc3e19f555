"""Bounds under hostile load (DESIGN.md guarantee 12): counters of things held open at
once, and the byte budget of what waits to go out on one WebSocket.

Each bound says what happens at the limit in docs/protocol.md ("Limits"): a long-poll over
the limit answers at once as a plain pull, a WebSocket handshake over the limit is refused
with 503 and Retry-After, a connection over its queued bytes is a slow consumer.
"""

from __future__ import annotations

import asyncio

# What a client is told to wait before it tries again when the server is full.
FULL_RETRY_AFTER_SECONDS = 5


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
    pending (itself bounded: see ws.py)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._room = asyncio.Event()
        self._room.set()

    def fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.capacity

    async def reserve(self, size: int) -> None:
        while not self.fits(size):
            self._room.clear()
            await self._room.wait()
        self.used += size

    def take(self, size: int) -> None:
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size
        self._room.set()
