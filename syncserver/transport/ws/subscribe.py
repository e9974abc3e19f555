"""A WebSocket connection's subscriptions, one per space: the `subscribe` and `unsubscribe`
frames, the per-connection limit, and the subscriptions a new token no longer allows.

A connection holds at most SYNCSERVER_WS_MAX_SUBSCRIPTIONS; one that keeps subscribing
past it is closed (1008) and no longer read. A subscription to a space already subscribed
replaces the old one (from the new frame's cursor).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket

from ...core.service import SyncService, check_space
from ...guard.guard import Guard
from ...guard.permissions import Access, forbidden_space
from ...model.errors import ErrorCode, SyncError
from ..http_api import parse_collections
from ..sending import ignore_input
from .closes import CLOSE_POLICY, error_frame
from .outbox import Outbox
from .subscription import Subscription, resync_required

REFUSALS_BEFORE_CLOSE = 3  # too_many_subscriptions answers before the connection is closed


class Subscriptions:
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
        try:
            since = self.service.cursors.decode(space, cursor)
        except SyncError as exc:
            if exc.code == ErrorCode.RESYNC_REQUIRED:
                await self.outbox.send(resync_required(space, exc.detail))
                return
            raise SyncError(exc.code, exc.detail, space=space) from None
        if space not in self.by_space and len(self.by_space) >= settings.ws_max_subscriptions:
            self._refuse(space)
            return
        old = self.by_space.pop(space, None)
        if old is not None:
            old.stop()
        self.by_space[space] = Subscription(self, space, since, collections)

    def _refuse(self, space: str) -> None:
        """A subscription past SYNCSERVER_WS_MAX_SUBSCRIPTIONS: an error frame, or past a
        few of those, the connection closed."""
        self.refusals += 1
        if self.refusals > REFUSALS_BEFORE_CLOSE:  # a flood, not a client that listens
            ignore_input(self.ws.scope)  # what it sent on is not even parsed
            self.outbox.close_after(CLOSE_POLICY, "too many subscriptions", error_frame(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS.value,
                f"{self.refusals} subscriptions refused on this connection: it is closed; "
                "unsubscribe before subscribing past SYNCSERVER_WS_MAX_SUBSCRIPTIONS"))
            return
        raise SyncError(ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                        f"this connection has {len(self.by_space)} subscriptions, the most "
                        "one connection may hold (SYNCSERVER_WS_MAX_SUBSCRIPTIONS): "
                        "unsubscribe first, or open another connection", space=space)

    def unsubscribe(self, frame: dict[str, Any]) -> None:
        sub = self.by_space.pop(check_space(frame.get("space")), None)
        if sub is not None:
            sub.stop()

    async def end_unreadable(self, access: Access) -> None:
        """A token refresh (a hello on an open socket) may grant less: each subscription
        to a space `access` does not read ends, with an error frame naming the space."""
        for space, sub in list(self.by_space.items()):
            if not access.can_read(space):
                sub.stop()
                del self.by_space[space]
                error = forbidden_space(space)
                await self.outbox.send(error_frame(
                    error.code.value, error.detail + ": the subscription ended",
                    **error.extra))

    def stop_all(self) -> None:
        for sub in list(self.by_space.values()):
            sub.stop()

    def slow_consumer(self) -> None:
        """A subscription's live batches overflowed: the connection is closed."""
        subs = list(self.by_space.values())
        # What is queued is dropped: each resync names the cursor the client last received.
        self.outbox.slow_consumer(lambda: [sub.resync_message() for sub in subs])
