"""The HTTP endpoints of Web Push (webpush/service.py): the VAPID public key, a device's
push subscription, and the app's notifications."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..webpush.service import WebPush
from .http_api import authenticate, read_json

MAX_BODY = 16_384  # bytes of a registration or notification body


def _webpush(request: Request) -> WebPush:
    webpush: WebPush = request.app.state.webpush
    return webpush


async def key(request: Request) -> Response:
    """GET /v1/webpush/key -> {"public_key"} (no token: it is public)."""
    return JSONResponse({"public_key": _webpush(request).public_key()},
                        headers={"cache-control": "no-cache"})


async def subscriptions(request: Request) -> Response:
    """One route for both methods: a 405 then names both in Allow."""
    if request.method == "DELETE":
        return await unregister(request)
    return await register(request)


async def register(request: Request) -> Response:
    webpush = _webpush(request)
    webpush.public_key()  # 404 webpush_disabled before a token or a body is read
    access = await authenticate(request)
    body = await read_json(request, MAX_BODY)
    return JSONResponse(await webpush.register(body, access), status_code=201)


async def unregister(request: Request) -> Response:
    webpush = _webpush(request)
    webpush.public_key()
    access = await authenticate(request)
    await webpush.unregister(request.query_params.get("client_id"), access)
    return Response(status_code=204)


async def notify(request: Request) -> Response:
    webpush = _webpush(request)
    webpush.public_key()
    access = await authenticate(request)
    body = await read_json(request, MAX_BODY)
    return JSONResponse({"devices": await webpush.notify(body, access)}, status_code=202)


routes = [
    Route("/v1/webpush/key", key, methods=["GET"]),
    Route("/v1/webpush/subscriptions", subscriptions, methods=["POST", "DELETE"]),
    Route("/v1/notify", notify, methods=["POST"]),
]
