"""One WebSocket connection from handshake to close: the server-wide gate on connections
(`endpoint`), the handshake, the frames read until the end, and the cleanup; a server that
stops closes every connection with 1001 (going away)."""

from __future__ import annotations

from starlette.websockets import WebSocket, WebSocketDisconnect

from ...core.service import SyncService
from ...guard.auth import subprotocol_token
from ...guard.guard import Guard
from ...guard.limits import FULL_RETRY_AFTER_SECONDS
from ...model.errors import ErrorCode, SyncError, problem_response
from ...model.mutations import valid_client_id
from .authentication import Authentication
from .closes import CLOSE_GOING_AWAY
from .frames import Frames
from .live import LiveClients
from .outbox import Outbox
from .subscribe import Subscriptions


class Connection:
    # Slots, as every object a connection holds for its life (docs/benchmarks.md "Idle
    # connections"): an instance dict is 0.3-0.6 KB of each idle connection.
    __slots__ = ("ws", "service", "outbox", "subscriptions", "auth", "frames", "live", "device")

    def __init__(self, websocket: WebSocket, service: SyncService, guard: Guard) -> None:
        self.ws = websocket
        self.service = service
        self.outbox = Outbox(websocket, guard.pages, service.metrics, service.settings,
                             stop_feeds=self._stop_feeds,
                             coalescer=websocket.app.state.coalescer)
        self.subscriptions = Subscriptions(websocket, service, guard, self.outbox)
        self.auth = Authentication(guard, self.outbox, self.subscriptions)
        self.frames = Frames(websocket, service, guard, self.outbox, self.auth,
                             self.subscriptions, self._hello)
        self.live: LiveClients | None = getattr(websocket.app.state, "live", None)
        self.device: tuple[str, str] | None = None  # (user, client id) once a hello names it

    def _hello(self, client_id: object) -> None:
        """A hello answered: the device (user, client id) is live here (live.py)."""
        if self.live is None or not valid_client_id(client_id):
            return
        assert isinstance(client_id, str)
        access = self.auth.access
        device = (access.sub if access is not None else "", client_id)
        if device != self.device:
            if self.device is not None:
                self.live.leave(self.device, self.subscriptions)
            self.device = device
            self.live.join(device, self.subscriptions)

    def _stop_feeds(self) -> None:
        self.subscriptions.stop_all()

    async def run(self) -> None:
        # A token may come as the subprotocol "bearer.<jwt>" beside "syncserver.v2": the
        # answer selects "syncserver.v2", never the token (the handshake would echo it).
        selected, token = subprotocol_token(list(self.ws.scope.get("subprotocols") or []))
        await self.ws.accept(subprotocol=selected)
        self.service.metrics.ws_connections.inc()
        self.outbox.start()
        notifier = self.service.notifier
        notifier.on_shutdown(self.going_away)
        try:
            if notifier.closing:
                await self.going_away()
            if token is not None:
                await self.auth.offered(token)
            await self.frames.receive()
        except WebSocketDisconnect:
            pass
        finally:
            notifier.off_shutdown(self.going_away)
            if self.live is not None and self.device is not None:
                self.live.leave(self.device, self.subscriptions)
            self.auth.end()
            self.subscriptions.stop_all()
            self.service.metrics.ws_connections.dec()
            await self.outbox.finish()  # its page-pool bytes go back

    async def going_away(self) -> None:
        """The server is stopping: close with 1001 now. Frames still queued are dropped:
        the client resumes from the last cursor it received and replays unanswered
        pushes (both harmless), and the close is not held up behind them."""
        self.outbox.close(CLOSE_GOING_AWAY, "server shutting down", list, drop_queued=True)
        await self.outbox.closed()


async def endpoint(websocket: WebSocket) -> None:
    service: SyncService = websocket.app.state.service
    guard: Guard = websocket.app.state.guard
    if not guard.connections.enter():
        # Full (SYNCSERVER_MAX_CONNECTIONS): refused before the handshake completes, so a
        # client backs off and retries instead of taking a socket it would lose at once.
        error = SyncError(ErrorCode.SERVER_BUSY,
                          f"the server holds its most WebSocket connections "
                          f"({guard.connections.capacity}): retry later",
                          retry_after=FULL_RETRY_AFTER_SECONDS)
        await websocket.send_denial_response(problem_response(error))
        return
    try:
        await Connection(websocket, service, guard).run()
    finally:
        guard.connections.leave()
