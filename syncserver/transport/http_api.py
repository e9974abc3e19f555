"""HTTP endpoints: thin adapters from requests to the sync core."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.service import SyncService, check_space
from ..guard.auth import bearer
from ..guard.guard import Guard
from ..guard.limits import spread
from ..guard.permissions import Access
from ..model import exact_json
from ..model.errors import ErrorCode, SyncError
from ..model.mutations import MAX_INT, SPACE_PATTERN
from ..model.version import PROTOCOL_VERSION, VERSION
from ..storage.failures import RETRY_AFTER_SECONDS
from .sending import PageResponse

JSON = "application/json"
HEALTH_DETAIL = ("the database cannot be read or written now (the server log says why); "
                 "retry later")
log = logging.getLogger("syncserver")
PAGE_ROOM_WAIT = 10.0  # seconds a pull waits for room in the page pool (then 503)
_INTEGER = re.compile(r"-?[0-9]+")


def _service(request: Request) -> SyncService:
    service: SyncService = request.app.state.service
    return service


def _guard(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


async def authenticate(request: Request) -> Access | None:
    """What the request's bearer token grants (401 without a valid one, 429 past its user's
    rate); None: auth off. Checked before the body is read: a caller without a token (or
    over its rate) cannot make the server read megabytes."""
    guard = _guard(request)
    if not guard.auth.enabled:
        return None
    access = await guard.auth.access(bearer(request.headers.get("authorization")))
    guard.spend(access)  # every authenticated request costs a token: 429 past the rate
    return access


async def read_json(request: Request, max_bytes: int) -> object:
    # Exactly application/json (a charset parameter is fine). No type, or a type an HTML
    # form can send (text/plain, urlencoded, multipart), would let a page of any site push
    # without a CORS preflight; application/json always needs one.
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise SyncError(ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                        "send Content-Type: application/json, not "
                        + (repr(content_type) if content_type else "no content type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise SyncError(ErrorCode.BATCH_TOO_LARGE,
                        f"the body is {declared} bytes; the limit is {max_bytes} "
                        "(SYNCSERVER_MAX_BATCH_BYTES): split the batch")
    chunks: list[bytes] = []
    size = 0
    timeout = _service(request).settings.body_timeout
    try:
        async with asyncio.timeout(spread(timeout)):  # a body sent a byte at a time
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise SyncError(ErrorCode.BATCH_TOO_LARGE,
                                    f"the body is over the limit of {max_bytes} bytes "
                                    "(SYNCSERVER_MAX_BATCH_BYTES): split the batch")
                chunks.append(chunk)
    except ClientDisconnect:  # gone before its body was whole: nobody reads the answer
        raise SyncError(ErrorCode.INVALID_REQUEST, "the client closed the connection before "
                        "its body was whole: nothing was stored") from None
    except TimeoutError:
        raise SyncError(ErrorCode.REQUEST_TIMEOUT,
                        f"the body did not arrive within {timeout:g} seconds "
                        "(SYNCSERVER_BODY_TIMEOUT): nothing was stored; send it again") from None
    try:
        return exact_json.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise SyncError(ErrorCode.MALFORMED_JSON, f"the body is not valid JSON: {exc}") from None


async def push(request: Request) -> Response:
    service = _service(request)
    access = await authenticate(request)
    body = await read_json(request, service.settings.max_batch_bytes)
    return Response(await service.push(body, access), media_type=JSON)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # int() would also take "１０" (fullwidth), " 10" and "1_0":  # noqa: RUF003
    # only ASCII digits are an integer here
    if _INTEGER.fullmatch(raw) is None or len(raw) > 20:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"{name} must be an integer from {low} "
                        f"to {high}", field=name)
    value = int(raw)
    if not low <= value <= high:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"{name} must be between {low} and {high}",
                        field=name)
    return value


def _wait_param(request: Request, max_wait: float) -> float:
    raw = request.query_params.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise SyncError(ErrorCode.INVALID_REQUEST, "wait must be a number of seconds",
                        field="wait") from None
    if not 0 <= value <= max_wait:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"wait must be between 0 and {max_wait}",
                        field="wait")
    return value


def parse_collections(raw: str | list[str] | None, most: int) -> list[str] | None:
    """A `collections` filter: at most `most` names (SYNCSERVER_MAX_FILTER_COLLECTIONS),
    each a collection name (so at most 64 characters)."""
    if raw is None or raw == "" or raw == []:
        return None
    names = raw.split(",", most) if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SyncError(ErrorCode.INVALID_REQUEST, "collections must be a list of names",
                        field="collections")
    if len(names) > most:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"collections names more than {most} "
                        "collections (SYNCSERVER_MAX_FILTER_COLLECTIONS): subscribe to the "
                        "whole space, or split the filter", field="collections")
    bad = [n for n in names if SPACE_PATTERN.fullmatch(n) is None]
    if bad:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"bad collection name {bad[0]!r}",
                        field="collections")
    return sorted(set(names))


async def changes(request: Request) -> Response:
    service = _service(request)
    access = await authenticate(request)
    space = check_space(request.query_params.get("space"))
    if access is not None:
        access.require_read(space)
    limit = _int_param(request, "limit", service.settings.max_page, 1, service.settings.max_page)
    wait = _wait_param(request, service.settings.max_wait)
    collections = parse_collections(request.query_params.get("collections"),
                                    service.settings.max_filter_collections)
    page = await service.changes(space, request.query_params.get("since"), limit,
                                 collections, wait, access.sub if access else None,
                                 room_wait=spread(PAGE_ROOM_WAIT),
                                 readable=service.reading(access, space, collections))
    held = page.held
    pages = _guard(request).pages
    return PageResponse(page.parts(), lambda: pages.give_back(held),
                        service.settings.send_timeout)


async def list_conflicts(request: Request) -> Response:
    service = _service(request)
    access = await authenticate(request)
    q = request.query_params
    status = q.get("status", "")
    if status not in ("", "open", "resolved"):
        raise SyncError(ErrorCode.INVALID_REQUEST, "status must be open or resolved",
                        field="status")
    filters = {"space": q.get("space", ""), "collection": q.get("collection", ""),
               "record_id": q.get("id", ""), "status": status}
    after = _int_param(request, "after", 0, 0, 1 << 62)
    limit = _int_param(request, "limit", 100, 1, 1000)
    return Response(await service.list_conflicts(filters, after, limit, access),
                    media_type=JSON)


async def resolve_conflict(request: Request) -> Response:
    service = _service(request)
    raw_id = request.path_params["conflict_id"]
    access = await authenticate(request)
    body = await read_json(request, service.settings.max_batch_bytes)
    if raw_id > MAX_INT:  # no such id can exist, and SQLite cannot even compare it
        raise SyncError(ErrorCode.CONFLICT_NOT_FOUND, f"no conflict {raw_id}")
    return Response(await service.resolve_conflict(raw_id, body, access), media_type=JSON)


async def healthz(request: Request) -> Response:
    service = _service(request)
    # The database answers, the writer commits, and no storage error that reads or writes
    # met lasts (storage/health.py).
    failure = await service.storage.health()
    if failure is not None:
        # The reason (an exception's text, a path, SQL) is for the log, not for whoever
        # can reach /healthz: the body says only what kind of failure, since when.
        log.warning("/healthz answers 503: %s", failure.reason)
        return JSONResponse({"status": "unavailable", "detail": HEALTH_DETAIL,
                             "error": failure.body()},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return JSONResponse({"status": "ok", "storage": service.storage.kind, "version": VERSION,
                         "protocol": PROTOCOL_VERSION})


async def metrics(request: Request) -> Response:
    token = _service(request).settings.metrics_token
    if token == "off":
        raise SyncError(ErrorCode.NOT_FOUND, "/metrics is not served here "
                        "(SYNCSERVER_METRICS_TOKEN=off)")
    if token:
        given = bearer(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            error = SyncError(ErrorCode.UNAUTHORIZED, "/metrics needs the metrics token: send "
                              "Authorization: Bearer <SYNCSERVER_METRICS_TOKEN>")
            error.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            raise error
    return Response(_service(request).metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    from .openapi import document

    return Response(orjson.dumps(document(_service(request).settings)), media_type=JSON)


routes = [
    Route("/v1/push", push, methods=["POST"]),
    Route("/v1/changes", changes, methods=["GET"]),
    Route("/v1/conflicts", list_conflicts, methods=["GET"]),
    Route("/v1/conflicts/{conflict_id:int}/resolve", resolve_conflict, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
