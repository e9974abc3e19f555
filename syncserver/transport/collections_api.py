"""GET /v1/collections: the collections this server declares (`--collections FILE`,
docs/protocol.md), as the browser client reads them to check a record before it queues it.

The answer is the same for every caller and changes only when the server restarts with
another file: a strong ETag of its bytes, `Cache-Control: no-cache` (always revalidated,
never used stale: a client must not keep checking against a schema the server dropped),
and `304 Not Modified` to an `If-None-Match` that names it.
"""

from __future__ import annotations

import hashlib

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..collections.declared import Declared
from .http_api import JSON, authenticate

CACHE_CONTROL = "no-cache"


def rendered(declared: Declared) -> tuple[bytes, str]:
    """The body (canonical JSON: keys sorted) and its strong ETag."""
    body = orjson.dumps(declared.served(), option=orjson.OPT_SORT_KEYS)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (RFC 9110 13.1.2: `*`, or a list of
    tags compared weakly: W/"x" names "x")."""
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


async def collections(request: Request) -> Response:
    await authenticate(request)  # any valid token (auth none: anyone), as other reads
    declared: Declared = request.app.state.declared
    body, etag = rendered(declared)  # a few microseconds, once per client start or reconnect
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


routes = [Route("/v1/collections", collections, methods=["GET"])]
