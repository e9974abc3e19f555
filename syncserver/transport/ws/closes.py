"""How a WebSocket connection ends: its close codes, and the close under way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008  # policy violation: subscribe frames past the limit, again and again
CLOSE_BAD_FRAME = 4400
CLOSE_UNAUTHORIZED = 4401  # auth on: no valid hello, a refused token, or the token expired
CLOSE_SLOW_CONSUMER = 4408
CLOSE_TOO_MANY_CONNECTIONS = 4429  # auth on: the user holds SYNCSERVER_MAX_USER_CONNECTIONS

# The messages sent after the last queued frame and before the close frame, rendered only
# then (a resync names the cursor the client holds by that time).
Farewell = Callable[[], list[dict[str, Any]]]


class Closing(NamedTuple):
    """The close frame a connection ends with, once its last frames went out."""

    code: int
    reason: str


def error_frame(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}
