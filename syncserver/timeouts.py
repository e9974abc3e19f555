"""Header and body timeouts (slowloris): a connection that sends its request a byte at a
time holds a file descriptor and a little memory for as long as it likes, and enough of
them stop the server from accepting anyone (docs/deployment.md).

uvicorn closes a keep-alive connection idle after a response (`timeout_keep_alive`), but
sets no deadline for the request headers themselves, nor for a connection that never sends
a byte. The protocol below gives every request `header_timeout` seconds from the
connection's opening (or from the first byte of a later request on it) to the end of its
headers; past it the connection is closed. The body has its own deadline at the ASGI level
(http_api.read_json: 408 request_timeout).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def protocol_with_header_timeout(header_timeout: float) -> type[HttpToolsProtocol]:
    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol
