"""Security headers on every HTTP response, as ASGI middleware around the whole app.

- Every response: `X-Content-Type-Options: nosniff` (a JSON answer or an uploaded-looking
  file is never run as a script or styled as CSS) and `Referrer-Policy: no-referrer`
  (page and API URLs carry space names and cursors: they are not handed to other sites).
- Pages and files (everything but the API: the demo, `--static` apps, the library at
  /sync/): the Content-Security-Policy of SYNCSERVER_CSP (none when `off`), and
  `X-Frame-Options: DENY` for browsers without CSP `frame-ancestors` when the policy
  forbids framing. A service worker script gets the policy too: it governs the worker.
- `Strict-Transport-Security` only when this process serves HTTPS itself: over plain HTTP
  browsers ignore it, and behind a TLS proxy it is the proxy's to send (it alone knows
  whether every name it serves is HTTPS-only).
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config.settings import Settings

API_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})


def is_api(path: str) -> bool:
    return path.startswith("/v1/") or path in API_PATHS


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        common = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
        if settings.tls and settings.hsts_max_age > 0:
            common["strict-transport-security"] = f"max-age={settings.hsts_max_age}"
        page = dict(common)
        if settings.csp.strip().lower() != "off":
            page["content-security-policy"] = settings.csp.strip()
            if "frame-ancestors 'none'" in settings.csp:
                page["x-frame-options"] = "DENY"
        self.api = list(common.items())
        self.page = list(page.items())

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            # The inner app's awaitable itself, not awaited in a coroutine of ours: a
            # WebSocket's call lasts as long as the connection, and each middleware frame
            # suspended in it is ~0.4 KB of every idle connection (docs/benchmarks.md).
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = self.api if is_api(scope["path"]) else self.page

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:  # a route's own value wins
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
