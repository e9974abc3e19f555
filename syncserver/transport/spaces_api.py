"""The HTTP endpoints of a client that follows many spaces: GET /v1/spaces (what it may
follow, core/spaces.py) and POST /v1/pull (their catch-up in one round trip,
core/multipull.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core import multipull
from ..core.service import SyncService
from ..core.spaces import list_spaces
from ..guard.limits import spread
from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN
from .http_api import JSON, PAGE_ROOM_WAIT, authenticate, parse_collections, read_json
from .sending import PageResponse


def _service(request: Request) -> SyncService:
    service: SyncService = request.app.state.service
    return service


async def spaces(request: Request) -> Response:
    service = _service(request)
    access = await authenticate(request)
    return Response(await list_spaces(service.storage, access), media_type=JSON)


async def pull(request: Request) -> Response:
    service = _service(request)
    access = await authenticate(request)
    body = await read_json(request, service.settings.max_batch_bytes)
    asked = parse_pull(body, service)
    answer = await multipull.pull(service, asked, access, room_wait=spread(PAGE_ROOM_WAIT))
    held = answer.held
    return PageResponse(answer.body(), lambda: service.guard.pages.give_back(held),
                        service.settings.send_timeout)


def _invalid(detail: str, name: str) -> SyncError:
    return SyncError(ErrorCode.INVALID_REQUEST, detail, field=name)


def parse_pull(body: object, service: SyncService) -> multipull.PullRequest:
    """A pull request's body (already parsed JSON), checked whole before anything is read."""
    settings = service.settings
    if not isinstance(body, dict):
        raise SyncError(ErrorCode.INVALID_REQUEST, "the body must be a JSON object")
    if "wait" in body:
        raise _invalid("POST /v1/pull does not long-poll: follow live changes over the "
                       "WebSocket (/v1/ws), or GET /v1/changes with wait for one space",
                       "wait")
    cursors = body.get("cursors")
    if not isinstance(cursors, dict):
        raise _invalid("cursors must be an object of space names to cursors", "cursors")
    if len(cursors) > settings.max_pull_spaces:
        raise SyncError(ErrorCode.TOO_MANY_SPACES,
                        f"{len(cursors)} spaces in one pull; the limit is "
                        f"{settings.max_pull_spaces} (SYNCSERVER_MAX_PULL_SPACES): split "
                        "them over several pulls", field="cursors")
    for space, cursor in cursors.items():
        if SPACE_PATTERN.fullmatch(space) is None:
            raise _invalid(f"bad space name {space[:80]!r} in cursors: a space matches "
                           f"{SPACE_PATTERN.pattern}", "cursors")
        if cursor is not None and not isinstance(cursor, str):
            raise _invalid(f"the cursor of space {space!r} must be a string or null",
                           "cursors")
    limit = body.get("limit")
    if limit is None:
        limit = settings.max_page
    if type(limit) is float and limit.is_integer():
        limit = int(limit)  # 2.0 is the integer 2 to JSON Schema (the OpenAPI document's)
    if type(limit) is not int or not 1 <= limit <= settings.max_page:
        raise _invalid(f"limit must be an integer from 1 to {settings.max_page}", "limit")
    collections = body.get("collections")
    if collections is not None and not isinstance(collections, list):
        raise _invalid("collections must be a list of names", "collections")
    return multipull.PullRequest(cursors, limit,
                                 parse_collections(collections,
                                                   settings.max_filter_collections))


routes = [
    Route("/v1/spaces", spaces, methods=["GET"]),
    Route("/v1/pull", pull, methods=["POST"]),
]
