"""The application factory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..collections.declared import Declared
from ..config.metrics import Metrics
from ..config.origins import parse_origins
from ..config.resources import client_dir
from ..config.settings import Settings
from ..core.collections_file import declared_for
from ..core.service import SyncService, policies_for
from ..guard.guard import Guard
from ..model import incidents
from ..model.errors import ErrorCode, SyncError, problem_response
from ..storage.factory import Prepared, open_storage, prepare
from ..transport import collections_api, http_api, spaces_api, static, webpush_api, ws
from ..transport.cors import Cors
from ..transport.headers import SecurityHeaders
from ..transport.ws.coalesce import Coalescer
from ..transport.ws.live import LiveClients
from ..webpush.service import WebPush
from . import devmode

CLIENT_DIR = client_dir()


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class LatencyMiddleware:
    """Request latency by route template and method, never by raw path or method name:
    both come from the client, and each label value is a series kept for ever. A request
    counts under the route the router would pick (its template: `{conflict_id}` for any
    id), a wrong method's too; anything else is `other`."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[Route]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":  # no frame of ours for a WebSocket's life (see headers)
            return self.app(scope, receive, send)
        return self._timed(scope, receive, send)

    async def _timed(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.request_seconds.labels(self._route(scope), method).observe(
                time.perf_counter() - start)

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)  # PARTIAL: the path, another method
            if match is not Match.NONE:
                return route.path_format
        return "other"


async def _sync_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SyncError)
    return problem_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
        exc.status_code, ErrorCode.INVALID_REQUEST)
    error = SyncError(code, exc.detail or code.value)
    response = problem_response(error)
    response.status_code = exc.status_code
    # The router's own headers: Allow on a 405 (RFC 9110 requires it)
    response.headers.update(exc.headers or {})
    return response


async def _upgrade_required(request: Request) -> Response:
    """/v1/ws asked for as a plain HTTP request (no WebSocket handshake)."""
    error = SyncError(ErrorCode.UPGRADE_REQUIRED,
                      "/v1/ws is a WebSocket: open it with a WebSocket handshake (GET with "
                      "Upgrade: websocket and Connection: Upgrade)")
    error.headers.update({"Upgrade": "websocket", "Connection": "Upgrade"})  # RFC 9110 15.5.22
    return problem_response(error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The answer claims nothing about what was stored: the failure may follow a commit (the
    # live fan-out after a push). Pushes are idempotent, so resending is always safe.
    error_id = incidents.report(f"answering {request.method} {request.url.path}", exc)
    return problem_response(SyncError(
        ErrorCode.INTERNAL_ERROR,
        f"an unexpected server error (error {error_id} in the server log); resend the "
        "request: a replayed push is applied once", error_id=error_id))


class WebSocketShortcut:
    """A WebSocket handshake for `route` goes straight to its endpoint, past Starlette's
    error handler, exception middleware and router: each of them stays suspended in a frame
    for the connection's life (4.3 KB of every idle connection, tracemalloc:
    docs/benchmarks.md "Idle connections"), and for a WebSocket none of them does anything
    the endpoint needs (an exception escaping it is logged by uvicorn and the socket closed
    with 1011, as through them). Anything else goes through Starlette's stack."""

    def __init__(self, app: ASGIApp, route: WebSocketRoute,
                 endpoint: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.app = app
        self.route = route
        self.endpoint = endpoint

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            match, child = self.route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return self.endpoint(WebSocket(scope, receive, send))
        return self.app(scope, receive, send)


class SyncApp(Starlette):
    """Starlette, with `outer` middleware around its ServerErrorMiddleware: the security
    headers and CORS headers then land on every answer, the 500 of an unexpected error
    included (Starlette puts user middleware inside the error handler, whose answer
    would carry neither). The WebSocket route is taken before Starlette's own stack."""

    outer: Sequence[Middleware] = ()  # create_app sets it: a tuple is no shared mutable
    websocket: WebSocketRoute | None = None  # create_app sets it

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        if self.websocket is not None:
            app = WebSocketShortcut(app, self.websocket, ws.endpoint)
        for cls, args, kwargs in reversed(self.outer):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None, lock: Prepared | None = None,
               declared: Declared | None = None) -> Starlette:
    """The app. `lock`: the database was already prepared (and a SQLite file locked) by
    the caller (the `syncserver serve` command does it before it binds its port); without
    it, the app's start-up does it, and releases the lock when the app stops. `declared`:
    the collections file, already read by the caller (without it: read here)."""
    settings = settings or Settings.from_sources()
    metrics = Metrics()
    # Refused in the order they always were: the database URL, the policies (the
    # collections file's joined to the flags'), then auth.
    storage = open_storage(settings)
    if declared is None:  # read once: the server's collections for its life
        declared = declared_for(settings)
    policies = policies_for(settings, declared)
    guard = Guard(settings, metrics)
    service = SyncService(settings, storage, metrics, guard, policies, declared)
    live = LiveClients()  # devices on a WebSocket here: not nudged by Web Push
    webpush = WebPush(settings, storage, metrics, service.notifier, live)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_lock = None
        if lock is None:
            own_lock = prepare(settings, migrate=settings.migrate)
        try:
            await service.start()
            try:
                await webpush.start()
                try:
                    yield
                finally:
                    await webpush.stop()
            finally:
                await service.stop()
        finally:
            if own_lock is not None:
                own_lock.release()

    api_routes = [*http_api.routes, *spaces_api.routes, *collections_api.routes,
                  *webpush_api.routes,
                  *devmode.routes(settings)]
    # The same path over plain HTTP: 426 for a GET, 405 with Allow for other methods
    # (without it, the demo's mount at / answered 404).
    websocket = WebSocketRoute("/v1/ws", ws.endpoint)
    routes: list[BaseRoute] = [*api_routes, websocket,
                    Route("/v1/ws", _upgrade_required, methods=["GET"]),
                    *static.mounts(settings, CLIENT_DIR)]
    app = SyncApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={SyncError: _sync_error, HTTPException: _http_error,
                            Exception: _unexpected},
    )
    app.state.service = service
    app.state.guard = guard
    app.state.settings = settings
    app.state.declared = service.declared  # the declared collections (GET /v1/collections)
    app.state.live = live
    app.state.coalescer = Coalescer(metrics)  # the live fan-out's socket writes
    app.state.webpush = webpush
    app.add_middleware(LatencyMiddleware, metrics=metrics, routes=api_routes)
    # Outermost first: security headers land on every answer, CORS preflights, refused
    # WebSocket handshakes and unexpected errors' 500s included.
    app.websocket = websocket
    app.outer = [Middleware(SecurityHeaders, settings=settings),
                 Middleware(Cors, origins=parse_origins(settings.cors_origins),
                            max_age=settings.cors_max_age, routes=api_routes)]
    return app
