"""In-process change notifications: long-poll wake-ups and live WebSocket fan-out.

Each committed batch is published once per space with the feed positions it covers
(`prev` = the head before it, `head` = after it), so a subscriber whose cursor is exactly
`prev` can take the batch as is, and anyone else reads the gap from storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property

import orjson

from ..model.records import CHANGE, COLLECTION, ID, OWNER, SEQ, Row
from ..storage.reading import Readable


@dataclass
class Published:
    space: str
    prev: int
    head: int
    rows: list[Row]  # in write order; a record written twice in the batch appears twice
    _rendered: dict[object, str | None] = field(default_factory=dict)
    # What a transport makes of this batch once for all its subscribers, by its own key
    # (the WebSocket's encoded frame per collection filter: transport/ws/wire.py).
    shared: dict[object, object] = field(default_factory=dict)

    @cached_property
    def records(self) -> list[Row]:
        """The batch's records in their final state, in seq order. Computed on first use:
        with no live subscriber, a publish costs nothing per record."""
        latest = {(r[COLLECTION], r[ID]): r for r in self.rows}
        if len(latest) == len(self.rows):
            return self.rows
        return sorted(latest.values(), key=lambda r: r[SEQ])

    @cached_property
    def touched(self) -> frozenset[str]:
        """The collections the batch wrote: a reader whose roles hide none of them is sent
        what a reader without roles is (wire.py shares that frame)."""
        return frozenset(r[COLLECTION] for r in self.rows)

    @cached_property
    def size(self) -> int:
        """Bytes of the batch's changes: what a subscriber holding it pending keeps alive."""
        return sum(len(r[CHANGE]) for r in self.rows)

    def matching(self, collections: frozenset[str] | None,
                 readable: Readable | None = None) -> list[Row]:
        """The batch's records a subscriber with this collection filter is sent, of those
        its roles let it read (`readable`; None: all)."""
        rows = self.records if collections is None else \
            [r for r in self.records if r[COLLECTION] in collections]
        if readable is None:
            return rows
        return [r for r in rows if readable.admits(r[COLLECTION], r[OWNER])]

    def message(self, collections: frozenset[str] | None,
                encode_cursor: Callable[[str, int], str],
                readable: Readable | None = None) -> str | None:
        """The live `changes` frame for this batch, rendered once per collection filter
        (and what roles leave the reader, if they restrict it) and shared by every
        subscriber alike (the fan-out hot path). None: nothing matches."""
        key: object = collections if readable is None else (collections, readable)
        if key in self._rendered:
            return self._rendered[key]
        changes = [r[CHANGE] for r in self.matching(collections, readable)]  # stored JSON
        text = None
        if changes:
            text = '{"type":"changes","space":%s,"changes":[%s],"cursor":%s,"more":false,' \
                '"live":true}' % (orjson.dumps(self.space).decode(), ",".join(changes),
                                  orjson.dumps(encode_cursor(self.space, self.head)).decode())
        self._rendered[key] = text
        return text


Listener = Callable[[Published], None]
# A change committed by this instance: (space, head after it, the writer's client id and
# user (None: the server's own writes such as a conflict resolution; the user is None with
# auth off), the records it created per collection declared to notify, or None).
CommitListener = Callable[[str, int, str | None, str | None, dict[str, int] | None], None]


@dataclass
class _Waiting:
    """The wake-up event of a space, and how many long-polls hold it."""

    event: asyncio.Event
    takers: int = 0


class Notifier:
    def __init__(self) -> None:
        self._events: dict[str, _Waiting] = {}
        self._listeners: dict[str, set[Listener]] = {}
        self._committed: list[CommitListener] = []
        self._goodbyes: set[Callable[[], Awaitable[None]]] = set()
        self._farewells: set[asyncio.Future[None]] = set()  # goodbyes running at shutdown
        # The highest feed position published here per space served (listened to or waited
        # on): every listener ends at or past it, having taken each publish or read the
        # feed after it. The fan-out between instances compares it with the database.
        self._heads: dict[str, int] = {}
        self.closing = False  # the server is stopping: nobody waits any more

    def serves(self, space: str) -> bool:
        return space in self._listeners or space in self._events

    def served(self) -> list[str]:
        return [*self._listeners, *(s for s in self._events if s not in self._listeners)]

    def head(self, space: str) -> int | None:
        """The highest position published in `space` while served (None: none yet)."""
        return self._heads.get(space)

    def prune(self) -> None:
        """Forget the heads of spaces no longer served (a woken long-poll leaves its
        space's head behind, so that its next wait does not start from nothing)."""
        for space in [s for s in self._heads if not self.serves(s)]:
            del self._heads[space]

    def _unserved(self, space: str) -> None:
        if not self.serves(space):
            self._heads.pop(space, None)

    def publish(self, space: str, prev: int, head: int, rows: list[Row]) -> None:
        if head > self._heads.get(space, -1) and self.serves(space):
            self._heads[space] = head
        published = Published(space, prev, head, rows)
        waiting = self._events.pop(space, None)
        if waiting is not None:
            waiting.event.set()
        for listener in list(self._listeners.get(space, ())):
            listener(published)

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` for every change committed by this instance (Web Push nudges,
        webpush/nudges.py), never for the changes of other instances that the fan-out
        publishes here: with several instances, each change is seen by one of them."""
        self._committed.append(listener)

    def committed(self, space: str, head: int, client_id: str | None, sub: str | None = None,
                  new: dict[str, int] | None = None) -> None:
        """This instance committed `space` up to `head` (SyncService, after publish)."""
        for listener in self._committed:
            listener(space, head, client_id, sub, new)

    def next_publish(self, space: str) -> asyncio.Event:
        """An event set by the next publish in `space`. Take it *before* reading storage,
        so a commit between the read and the wait still wakes the waiter."""
        if self.closing:
            event = asyncio.Event()
            event.set()
            return event
        waiting = self._events.get(space)
        if waiting is None:
            waiting = self._events[space] = _Waiting(asyncio.Event())
        waiting.takers += 1
        return waiting.event

    def done(self, space: str, event: asyncio.Event) -> None:
        """A taker of `event` no longer waits: the last one frees the space's state, so
        long-polls of ever new space names leave nothing behind."""
        waiting = self._events.get(space)
        if waiting is not None and waiting.event is event:
            waiting.takers -= 1
            if waiting.takers <= 0:
                del self._events[space]
                self._unserved(space)

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> bool:
        """False when the time is up."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def listen(self, space: str, listener: Listener) -> None:
        self._listeners.setdefault(space, set()).add(listener)

    def unlisten(self, space: str, listener: Listener) -> None:
        listeners = self._listeners.get(space)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[space]
                self._unserved(space)

    def on_shutdown(self, goodbye: Callable[[], Awaitable[None]]) -> None:
        """Run `goodbye` when the server stops (a WebSocket connection closing itself)."""
        self._goodbyes.add(goodbye)

    def off_shutdown(self, goodbye: Callable[[], Awaitable[None]]) -> None:
        self._goodbyes.discard(goodbye)

    async def shutdown(self, timeout: float) -> None:
        """The server is stopping: wake every long-poll now (it answers with what it has)
        and let every registered connection say goodbye, for at most `timeout` seconds."""
        self.closing = True
        for waiting in self._events.values():
            waiting.event.set()
        self._events.clear()
        # Kept (the loop holds tasks weakly): one still running past `timeout` is not
        # collected mid-flight.
        self._farewells = {asyncio.ensure_future(goodbye()) for goodbye in list(self._goodbyes)}
        if self._farewells:
            await asyncio.wait(self._farewells, timeout=timeout)

    def subscriber_count(self) -> int:
        return sum(len(v) for v in self._listeners.values())
