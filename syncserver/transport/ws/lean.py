"""A queue and an event for what every WebSocket connection holds for its whole life, idle
most of it: asyncio's own make their containers up front (a Queue three deques and an
Event, an Event a deque: 760 bytes each, empty), 7.6 KB per idle connection between
uvicorn's protocol and our outbox (tracemalloc, docs/benchmarks.md "Idle connections").
These make a container only while something is in it or waits on it.

Same behaviour as asyncio's where the callers rely on it: FIFO items; `put` waits for room
in a bounded queue, its waiters served in order; a cancelled waiter takes no item and
holds up no one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


def _wake_first(waiters: deque[asyncio.Future[None]] | None) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return


class LeanQueue(Generic[T]):
    """asyncio.Queue's put/get (and their _nowait forms), empty, full, qsize."""

    __slots__ = ("maxsize", "_items", "_getters", "_putters")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: deque[T] | None = None
        self._getters: deque[asyncio.Future[None]] | None = None
        self._putters: deque[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= self.qsize()

    def put_nowait(self, item: T) -> None:
        if self.full():
            raise asyncio.QueueFull
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        _wake_first(self._getters)

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None  # the deque goes while nothing waits
        _wake_first(self._putters)
        return item

    async def put(self, item: T) -> None:
        while self.full():
            if self._putters is None:
                self._putters = deque()
            await self._wait(self._putters)
        self.put_nowait(item)

    async def get(self) -> T:
        while self.empty():
            if self._getters is None:
                self._getters = deque()
            await self._wait(self._getters)
        return self.get_nowait()

    async def _wait(self, waiters: deque[asyncio.Future[None]]) -> None:
        waiter = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            waiter.cancel()
            try:
                waiters.remove(waiter)
            except ValueError:
                pass
            # Woken, then cancelled: the wake-up goes to the next waiter.
            if waiters is self._getters and not self.empty():
                _wake_first(waiters)
            elif waiters is self._putters and not self.full():
                _wake_first(waiters)
            raise
        finally:
            if not waiters:
                if waiters is self._getters:
                    self._getters = None
                elif waiters is self._putters:
                    self._putters = None


class LeanEvent:
    """asyncio.Event's set, clear, is_set and wait."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            waiters, self._waiters = self._waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None
