"""A WebSocket connection's subscriptions, one per space: the `subscribe` and `unsubscribe`
frames, the per-connection limit, and the subscriptions a new token no longer allows.

A connection holds at most SYNCSERVER_WS_MAX_SUBSCRIPTIONS, and the server at most
SYNCSERVER_MAX_SUBSCRIPTIONS over all its connections (the guard's `subscriptions` gate: a
client may follow hundreds of spaces, and the server-wide count is what bounds the memory
a flood of sockets could make it hold). A subscribe past either is refused
(`too_many_subscriptions`); a connection that keeps subscribing past it is closed (1008)
and no longer read. A subscription to a space already subscribed replaces the old one
(from the new frame's cursor) and keeps its place.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket

from ...core.service import SyncService, check_space
from ...guard.guard import Guard
from ...guard.limits import FULL_RETRY_AFTER_SECONDS
from ...guard.permissions import Access, forbidden_space
from ...model.errors import ErrorCode, SyncError
from ..http_api import parse_collections
from ..sending import ignore_input
from .closes import CLOSE_POLICY, error_frame
from .outbox import Outbox
from .subscription import Subscription, resync_required

REFUSALS_BEFORE_CLOSE = 3  # too_many_subscriptions answers before the connection is closed


class Subscriptions:
    __slots__ = ("ws", "service", "guard", "pages", "outbox", "by_space", "catching_up",
                 "refusals")

    def __init__(self, ws: WebSocket, service: SyncService, guard: Guard,
                 outbox: Outbox) -> None:
        self.ws = ws
        self.service = service
        self.guard = guard
        self.pages = guard.pages
        self.outbox = outbox
        self.by_space: dict[str, Subscription] = {}
        # One catch-up page read at a time per connection: its subscriptions together
        # hold at most one page beyond the connection's byte budget.
        self.catching_up = asyncio.Lock()
        self.refusals = 0  # subscriptions refused for the per-connection limit

    async def subscribe(self, frame: dict[str, Any], access: Access | None) -> None:
        """A `subscribe` frame: `space`, from `cursor` (absent: the start), optionally only
        some `collections`. `access`: what the connection's token grants (None: auth off)."""
        space = check_space(frame.get("space"))
        self.guard.spend(access, {"space": space})  # refused: nothing changes
        if access is not None:
            access.require_read(space)  # an error frame naming the space
        cursor = frame.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise SyncError(ErrorCode.BAD_CURSOR, "cursor must be a string", space=space)
        settings = self.service.settings
        collections = parse_collections(frame.get("collections"),
                                        settings.max_filter_collections)
        readable = self.service.reading(access, space, collections)  # 403: a hidden one
        try:
            since = self.service.cursors.decode(space, cursor)
        except SyncError as exc:
            if exc.code == ErrorCode.RESYNC_REQUIRED:
                await self.outbox.send(resync_required(space, exc.detail))
                return
            raise SyncError(exc.code, exc.detail, space=space) from None
        old = self.by_space.get(space)
        if old is not None:
            old.stop()  # the new one takes its place in both counts
        elif len(self.by_space) >= settings.ws_max_subscriptions:
            self._refuse(space, self._full_connection())
            return
        elif not self.guard.subscriptions.enter():
            self._refuse(space, self._full_server())
            return
        self.by_space[space] = Subscription(self, space, since, collections, readable)

    def _full_connection(self) -> SyncError:
        return SyncError(ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                         f"this connection has {len(self.by_space)} subscriptions, the most "
                         "one connection may hold (SYNCSERVER_WS_MAX_SUBSCRIPTIONS): "
                         "unsubscribe first, or open another connection")

    def _full_server(self) -> SyncError:
        self.guard.metrics.limited.labels(ErrorCode.TOO_MANY_SUBSCRIPTIONS.value).inc()
        return SyncError(ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                         "the server holds the most subscriptions it takes "
                         "(SYNCSERVER_MAX_SUBSCRIPTIONS over all connections): subscribe "
                         "again after retry_after seconds",
                         retry_after=FULL_RETRY_AFTER_SECONDS)

    def _refuse(self, space: str, refusal: SyncError) -> None:
        """A subscription past a limit: an error frame, or past a few of those, the
        connection closed."""
        self.refusals += 1
        if self.refusals > REFUSALS_BEFORE_CLOSE:  # a flood, not a client that listens
            ignore_input(self.ws.scope)  # what it sent on is not even parsed
            self.outbox.close_after(CLOSE_POLICY, "too many subscriptions", error_frame(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS.value,
                f"{self.refusals} subscriptions refused on this connection: it is closed; "
                "unsubscribe before subscribing past the subscription limits"))
            return
        raise SyncError(refusal.code, refusal.detail, space=space, **refusal.extra)

    def remove(self, sub: Subscription) -> None:
        """`sub` is over: its space leaves the table and its place the server's count."""
        if self.by_space.get(sub.space) is sub:
            del self.by_space[sub.space]
            self.guard.subscriptions.leave()

    def unsubscribe(self, frame: dict[str, Any]) -> None:
        sub = self.by_space.get(check_space(frame.get("space")))
        if sub is not None:
            sub.stop()
            self.remove(sub)

    async def end_unreadable(self, access: Access) -> None:
        """A token refresh (a hello on an open socket) may grant less: each subscription
        to a space `access` does not read ends, with an error frame naming the space, as
        does one whose `collections` name a collection its new roles hide; the others go
        on with what the new roles leave them (their next frames)."""
        for space, sub in list(self.by_space.items()):
            try:
                if not access.can_read(space):
                    raise forbidden_space(space)
                sub.readable = self.service.reading(access, space, sub.collections)
            except SyncError as error:
                sub.stop()
                self.remove(sub)
                await self.outbox.send(error_frame(
                    error.code.value, error.detail + ": the subscription ended",
                    **error.extra))

    def stop_all(self) -> None:
        """The connection is over (or its feeds are): every subscription stops and gives
        its place back (a second call finds none)."""
        for sub in list(self.by_space.values()):
            sub.stop()
            self.remove(sub)

    def slow_consumer(self) -> None:
        """A subscription's live batches overflowed: the connection is closed."""
        subs = list(self.by_space.values())
        # What is queued is dropped: each resync names the cursor the client last received.
        self.outbox.slow_consumer(lambda: [sub.resync_message() for sub in subs])
