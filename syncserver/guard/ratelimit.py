"""Per-user limits (auth on): a request rate per token subject (`sub`), and connections
held open at once per `sub` (WebSockets plus waiting long-polls).

The rate is a token bucket of `burst` tokens refilled at `rate` per second. It is kept as
GCRA (the generic cell rate algorithm, the bucket's exact equivalent): one float per user,
the time at which its bucket will be full again (`full_at`). A request costs one token:
allowed while `full_at - now <= (burst - 1) / rate`, and then `full_at` moves on by
`1 / rate`. So the push hot path pays one dict lookup, one store and some arithmetic.

With auth off there is no user to count: no per-user limit applies (docs/security.md says
why a per-address limit is not offered instead).
"""

from __future__ import annotations

import math
import time
from itertools import islice

from ..model.errors import ErrorCode, SyncError

# Users whose bucket state is kept. A user absent from the table has a full bucket, so an
# entry whose bucket refilled is dropped without changing anything; only when more users
# than this are mid-burst at once are the oldest entries forgotten (each gets, at most, one
# more burst).
MAX_USERS = 100_000
# What a client is told to wait, at least and at most, in whole seconds.
MAX_RETRY_AFTER_SECONDS = 3600


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_users: int = MAX_USERS) -> None:
        self.rate = rate
        self.burst = burst
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.max_users = max_users
        self.full_at: dict[str, float] = {}

    def take(self, sub: str, about: dict[str, object] | None = None) -> None:
        """Spend one token of `sub`'s bucket, or raise 429 rate_limited (nothing spent)."""
        now = time.monotonic()
        full_at = self.full_at.get(sub)
        if full_at is None:
            if len(self.full_at) >= self.max_users:
                self._prune(now)
            full_at = now
        elif full_at < now:
            full_at = now
        elif full_at - now > self.tolerance:
            raise self._refusal(full_at - self.tolerance - now, about)
        self.full_at[sub] = full_at + self.interval

    def _refusal(self, wait: float, about: dict[str, object] | None) -> SyncError:
        seconds = min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(wait)))
        return SyncError(ErrorCode.RATE_LIMITED,
                         f"this user sent more than {self.burst} requests at once or "
                         f"{self.rate:g} a second for too long (SYNCSERVER_RATE_LIMIT, "
                         f"SYNCSERVER_RATE_BURST): nothing was done; retry after "
                         f"{seconds} s", retry_after=seconds, **(about or {}))

    def _prune(self, now: float) -> None:
        """Drop entries whose bucket is full again (the same as absent); if that frees too
        little, forget the oldest entries too, so pruning stays rare."""
        table = self.full_at
        for sub in [s for s, t in table.items() if t <= now]:
            del table[sub]
        excess = len(table) - self.max_users * 3 // 4
        if excess > 0:
            for sub in list(islice(table, excess)):
                del table[sub]


class UserConnections:
    """Connections one user holds open at once: WebSockets (counted once authenticated)
    and waiting long-polls. Entries go when their count falls to zero, so the table is
    never larger than the connections held."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held: dict[str, int] = {}

    def enter(self, sub: str) -> bool:
        """Take a place for `sub`: False (and nothing taken) when it holds `capacity`."""
        held = self.held.get(sub, 0)
        if held >= self.capacity:
            return False
        self.held[sub] = held + 1
        return True

    def leave(self, sub: str) -> None:
        held = self.held[sub] - 1
        if held:
            self.held[sub] = held
        else:
            del self.held[sub]

    def refusal(self, retry_after: int, **about: object) -> SyncError:
        return SyncError(ErrorCode.TOO_MANY_CONNECTIONS,
                         f"this user holds {self.capacity} connections (WebSockets and "
                         "waiting long-polls, SYNCSERVER_MAX_USER_CONNECTIONS): close one, "
                         f"or retry after {retry_after} s", retry_after=retry_after, **about)
