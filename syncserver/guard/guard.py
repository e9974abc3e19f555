"""The guard of one server: who may do what, and how much. Built once from the settings
(ops/app.py), given to the SyncService and reached by the transports: the authenticator,
the per-user rate and connection counts, the server-wide gates (WebSockets, their
subscriptions, long-polls), and what pulls may hold (the page pool and the page reads at
once)."""

from __future__ import annotations

import asyncio

from ..config.metrics import Metrics
from ..config.settings import Settings
from ..model.errors import ErrorCode, SyncError
from ..storage.base import Storage
from .auth import DEV_SECRET_NAME, Authenticator
from .limits import FULL_RETRY_AFTER_SECONDS, Gate, PagePool
from .permissions import Access
from .ratelimit import RateLimiter, UserConnections

# Page reads at once: a read of large records is a thread's CPU for milliseconds, and six
# at once (the default executor) starved the writer and the event loop under 3,000 clients
# asking for pages (load/hostile.py: push p99 x2).
PAGE_READS = 2
# Room in the page pool for the largest change beside its envelope (cursor, seq, version,
# stamp).
CHANGE_ENVELOPE = 4_096


class Guard:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.metrics = metrics
        self.auth = Authenticator(settings)
        # Per-user limits, auth on only (ratelimit.py): no bucket at all when off.
        self.rate = RateLimiter(settings.rate_limit, settings.rate_burst) \
            if self.auth.enabled and settings.rate_limit > 0 else None
        self.user_connections = UserConnections(settings.max_user_connections)
        self.long_polls = Gate(settings.max_long_polls)
        self.connections = Gate(settings.max_connections)  # WebSockets
        # WebSocket subscriptions over all connections: what bounds their memory.
        self.subscriptions = Gate(settings.max_subscriptions)
        metrics.ws_subscriptions.set_function(lambda: self.subscriptions.held)
        self.reading = asyncio.Semaphore(PAGE_READS)
        self.pages = PagePool(settings.max_pages_in_flight_bytes,
                              settings.max_record_bytes + CHANGE_ENVELOPE)

    def start(self) -> None:
        """Before the storage opens: a JWKS that cannot be read fails the start."""
        self.auth.start()

    async def load_secrets(self, storage: Storage) -> None:
        """Once the storage is open: dev mode's token secret is kept in the database."""
        if self.auth.dev:
            self.auth.use_dev_secret(await storage.secret(DEV_SECRET_NAME))

    def spend(self, access: Access | None, about: dict[str, object] | None = None) -> None:
        """One request of `access`'s user: a token of its bucket, or 429 rate_limited."""
        if self.rate is not None and access is not None:
            try:
                self.rate.take(access.sub, about)
            except SyncError:
                self.metrics.limited.labels(ErrorCode.RATE_LIMITED.value).inc()
                raise

    def connection_refused(self, **about: object) -> SyncError:
        """429 too_many_connections: the user holds SYNCSERVER_MAX_USER_CONNECTIONS."""
        self.metrics.limited.labels(ErrorCode.TOO_MANY_CONNECTIONS.value).inc()
        return self.user_connections.refusal(FULL_RETRY_AFTER_SECONDS, **about)
