"""Who a WebSocket connection speaks for (auth on): the token of its first `hello` (or of
the subprotocol `bearer.<jwt>`), a token refresh (a later `hello` with a new token of the
same user), and the token's expiry.

Until a valid token arrives, every frame but `hello` and `ping` is refused and the
connection closed (4401); so it is when the token expires without a refresh. The first
token counts the connection for its user (SYNCSERVER_MAX_USER_CONNECTIONS, 4429 past it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...core.spaces import granted
from ...guard.guard import Guard
from ...guard.permissions import Access
from ...model.errors import ErrorCode, SyncError
from ...model.version import PROTOCOL_VERSION
from .closes import CLOSE_TOO_MANY_CONNECTIONS, CLOSE_UNAUTHORIZED, error_frame
from .outbox import Outbox
from .subscribe import Subscriptions

# The frames answered before a hello (a tuple: `kind` may be any JSON value, a list too).
UNAUTHENTICATED = ("hello", "ping")


class Authentication:
    __slots__ = ("guard", "enabled", "outbox", "subscriptions", "access", "counted", "expiry")

    def __init__(self, guard: Guard, outbox: Outbox, subscriptions: Subscriptions) -> None:
        self.guard = guard
        self.enabled = guard.auth.enabled
        self.outbox = outbox
        self.subscriptions = subscriptions
        self.access: Access | None = None  # auth on: what the hello's token grants
        self.counted: str | None = None  # the user whose connections this one counts in
        self.expiry: asyncio.TimerHandle | None = None

    async def offered(self, token: str) -> None:
        """The token offered as a subprotocol: taken as a first hello's."""
        if not self.enabled:
            return
        try:
            await self.authenticate(token)
        except SyncError as exc:
            self.failed(exc)

    def check(self, kind: object) -> None:
        """Before a frame of type `kind` is handled: auth on, a valid token is needed."""
        if self.enabled and kind not in UNAUTHENTICATED:
            if self.access is None:
                raise SyncError(ErrorCode.UNAUTHORIZED, "send a hello with a token first: "
                                '{"type": "hello", "token": "<jwt>"}')
            if self.access.expires_at + self.guard.auth.verifier.leeway < time.time():
                raise SyncError(ErrorCode.UNAUTHORIZED, "the token expired")

    async def hello(self, frame: dict[str, Any]) -> None:
        """A `hello`: answered with a `welcome`; auth on, its token is verified first (a
        token refresh when the connection already has one)."""
        welcome: dict[str, Any] = {"type": "welcome", "protocol": PROTOCOL_VERSION}
        if self.enabled:
            if "token" in frame or self.access is None:
                await self.authenticate(frame.get("token"))
            assert self.access is not None
            welcome.update(sub=self.access.sub, expires_at=int(self.access.expires_at),
                           spaces=granted(self.access))
        await self.outbox.send(welcome)

    async def authenticate(self, token: object) -> None:
        """A hello's token (or the subprotocol's): verify it, then re-check what it grants
        against every live subscription (a re-authentication may grant less)."""
        access = await self.guard.auth.access(token if isinstance(token, str) else None)
        if self.access is not None and access.sub != self.access.sub:
            raise SyncError(ErrorCode.UNAUTHORIZED, "a hello on an open socket must carry a "
                            "token of the same user: reconnect to change users")
        if self.counted is None:  # the first token of this socket: it counts for its user
            if not self.guard.user_connections.enter(access.sub):
                raise self.guard.connection_refused()
            self.counted = access.sub
        self.access = access
        self._expire_at(access)
        await self.subscriptions.end_unreadable(access)

    def _expire_at(self, access: Access) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
        delay = access.expires_at + self.guard.auth.verifier.leeway - time.time()
        self.expiry = asyncio.get_running_loop().call_later(max(delay, 0.0), self._expired)

    def _expired(self) -> None:
        self._refuse("the token expired: send a hello with a new token before it expires, "
                     "or reconnect with one")

    def failed(self, exc: SyncError) -> None:
        """A token refused (401) or its user at its most connections (429): the client is
        told, then the connection closed."""
        if exc.code == ErrorCode.TOO_MANY_CONNECTIONS:
            # The user holds its most connections: told so (with retry_after), then closed.
            self.outbox.close_after(CLOSE_TOO_MANY_CONNECTIONS, "too many connections",
                                    error_frame(exc.code.value, exc.detail, **exc.extra),
                                    drop_queued=True)
        else:
            self._refuse(exc.detail)

    def _refuse(self, detail: str) -> None:
        """Auth on: no valid token (any more). The client gets an `unauthorized` error
        frame, then close 4401; nothing queued after it is sent."""
        self.outbox.close_after(CLOSE_UNAUTHORIZED, "unauthorized",
                                error_frame(ErrorCode.UNAUTHORIZED.value, detail),
                                drop_queued=True)

    def end(self) -> None:
        """The connection ended: no expiry to watch, one connection fewer for its user."""
        if self.expiry is not None:
            self.expiry.cancel()
        if self.counted is not None:
            self.guard.user_connections.leave(self.counted)
