"""Cross-origin access: an allow-list of exact origins (SYNCSERVER_CORS_ORIGINS, none by
default) whose pages may call the API, and the `Origin` check of the WebSocket handshake.

Our own small middleware rather than Starlette's CORSMiddleware: preflights are answered
per endpoint (the methods of the route asked about), a refused preflight is a problem+json
403 like every other refusal of this server, and the same list guards the WebSocket
(browsers send no preflight for it: the handshake's `Origin` is the only defence against a
foreign page opening a socket with the user's network position or credentials).

- A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) of an API path
  from a listed origin: `204` with the route's methods, the request headers a client needs
  (`Authorization`, `Content-Type`, `If-None-Match`) and `Access-Control-Max-Age`. From
  any other origin: `403 origin_not_allowed` with no CORS header, so the browser never
  sends the request.
- Any other request from a listed origin gets `Access-Control-Allow-Origin` and exposes
  `Retry-After` and `ETag` (the client revalidates GET /v1/collections with it); from
  another origin it is answered as usual, without CORS headers (the browser withholds the
  answer from the page). No credentials (cookies) are allowed: the
  API authenticates with the `Authorization` header.
- `Vary: Origin` on every response once the list is not empty (answers differ by origin).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config.origins import DEFAULT_PORTS, canonical_origin
from ..model.errors import ErrorCode, SyncError

ALLOWED_HEADERS = "authorization, content-type, if-none-match"
EXPOSED_HEADERS = "retry-after, etag"


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    """(host, port) of a Host header or an origin's netloc; port None when not given."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


def same_origin(origin: str, host_header: str, scheme: str) -> bool:
    """Whether `origin` is this server's own origin as the request reached it: the scheme
    it came over (`ws`/`wss`; behind a TLS proxy the one its X-Forwarded-Proto names, which
    uvicorn takes from trusted addresses only), the host and port of its Host header. A
    Host without a port (a proxy forwarding `$host`) matches the origin's host on any
    port. Anything but an origin as browsers send it (a path, even `/`, a query, a user
    name, a default port spelled out) is none."""
    try:
        if canonical_origin(origin) != origin:
            return False
    except ValueError:
        return False
    parts = urlsplit(origin)
    if parts.scheme != {"ws": "http", "wss": "https"}.get(scheme, scheme) or not host_header:
        return False
    host, port = _host_port(host_header, parts.scheme)
    return bool(host) and host == parts.hostname and \
        (port is None or port == (parts.port or DEFAULT_PORTS[parts.scheme]))


class Cors:
    """The allow-list, as ASGI middleware around the whole app."""

    def __init__(self, app: ASGIApp, origins: frozenset[str], max_age: int,
                 routes: Iterable[Route]) -> None:
        self.app = app
        self.origins = origins
        self.max_age = str(max_age)
        self.routes = [(route.path_regex, sorted(route.methods or ())) for route in routes]

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A WebSocket let through gets the inner app's awaitable itself, with no frame of
        # ours for the connection's life (headers.py).
        if scope["type"] == "websocket":
            if self._websocket_allowed(scope):
                return self.app(scope, receive, send)
            return self._refuse_websocket(receive, send)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin is not None \
                and "access-control-request-method" in headers:
            methods = self._methods(scope["path"])
            if methods is not None:
                await self._preflight(origin, methods, send)
                return
        allowed = origin is not None and origin in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and self.origins:
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["access-control-allow-origin"] = origin or ""
                    out["access-control-expose-headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _methods(self, path: str) -> list[str] | None:
        for regex, methods in self.routes:
            if regex.match(path):
                return [m for m in methods if m != "HEAD"]
        return None  # not an API path: the app answers (405 for a file)

    async def _preflight(self, origin: str, methods: list[str], send: Send) -> None:
        if origin not in self.origins:
            error = SyncError(
                ErrorCode.ORIGIN_NOT_ALLOWED,
                "this origin is not in the server's CORS allow-list "
                "(SYNCSERVER_CORS_ORIGINS)")
            status, body = 403, orjson.dumps(error.body())
            headers = [(b"content-type", b"application/problem+json")]
        else:
            status, body = 204, b""
            headers = [(b"access-control-allow-origin", origin.encode()),
                       (b"access-control-allow-methods", ", ".join(methods).encode()),
                       (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                       (b"access-control-max-age", self.max_age.encode())]
        headers += [(b"content-length", str(len(body)).encode()),
                    (b"vary", b"Origin, Access-Control-Request-Method, "
                              b"Access-Control-Request-Headers")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _websocket_allowed(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        return origin is None or origin in self.origins \
            or same_origin(origin, headers.get("host", ""), scope["scheme"])

    @staticmethod
    async def _refuse_websocket(receive: Receive, send: Send) -> None:
        """A page of a foreign origin: refused before the handshake completes (the ASGI
        server answers 403), so no frame is ever exchanged with it."""
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})
