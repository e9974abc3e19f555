"""The OpenAPI of the endpoints of a client that follows many spaces (spaces_api.py):
GET /v1/spaces and POST /v1/pull, merged into the document by openapi.py."""

from __future__ import annotations

from typing import Any

from ..config.settings import Settings

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {}]
_AUTH = {"401": _problem("auth on: no valid bearer token"),
         "429": _problem("auth on: the user's rate (SYNCSERVER_RATE_LIMIT) is spent, "
                         "rate_limited: retry after Retry-After seconds (nothing was done)")}

SPACES_PATHS: dict[str, Any] = {
    "/v1/spaces": {"get": {
        "summary": "The spaces a client may follow, with their modes and heads",
        "security": BEARER,
        "responses": {
            "200": {"description": "auth on: the spaces the token grants; auth off: the "
                                   "spaces the server holds", **_json(_ref("SpacesList"))},
            **_AUTH,
            "503": _problem("storage unavailable: retry after Retry-After seconds"),
        }}},
    "/v1/pull": {"post": {
        "summary": "The catch-up of many spaces: one request, one page budget, a cursor per "
                   "space (no long-poll: the WebSocket is the live path)",
        "security": BEARER,
        "requestBody": {"required": True, **_json(_ref("PullRequest"))},
        "responses": {
            "200": {"description": "a page or an error per space, in the order asked",
                    **_json(_ref("PullResponse"))},
            "400": _problem("malformed JSON or request, or more spaces than "
                            "SYNCSERVER_MAX_PULL_SPACES (too_many_spaces)"),
            "408": _problem("the body did not arrive within SYNCSERVER_BODY_TIMEOUT"),
            "413": _problem("body larger than SYNCSERVER_MAX_BATCH_BYTES"),
            "415": _problem("not sent as Content-Type: application/json"),
            **_AUTH,
            "503": _problem("no room for the page within 10 s (pages held for clients that "
                            "have not read them), or storage unavailable: retry after "
                            "Retry-After seconds"),
        }}},
}

_SPACES_LIST = {
    "type": "object", "required": ["sub", "spaces", "truncated"],
    "properties": {
        "sub": {"type": ["string", "null"], "description": "the token's user; null: auth off"},
        "spaces": {"type": "array", "description": "by name", "items": {
            "type": "object", "required": ["space", "mode", "head"],
            "properties": {"space": _ref("Name"),
                           "mode": {"type": "string", "enum": ["r", "rw"]},
                           "head": {"type": "integer", "minimum": 0,
                                    "description": "the space's last seq (0: never "
                                                   "written)"}}}},
        "truncated": {"type": "boolean", "description": "auth off: the server holds more "
                      "spaces than the 1000 listed"}},
}

_SPACE_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {
        "error": {"type": "object", "required": ["code", "detail"],
                  "properties": {"code": {"type": "string", "enum": ["forbidden", "bad_cursor",
                                                                     "resync_required"]},
                                 "detail": {"type": "string"}}},
        "cursor": {"const": "", "description": "resync_required: pull from the start"}},
}

_PULL_RESPONSE = {
    "type": "object", "required": ["spaces", "more"],
    "properties": {
        "spaces": {"type": "object", "description": "every space asked, in the order asked: "
                   "its page, or its error",
                   "additionalProperties": {"anyOf": [_ref("ChangesPage"),
                                                      _ref("SpaceError")]}},
        "more": {"type": "boolean", "description": "a space has more now: pull again with "
                 "the new cursors"}},
}


def spaces_schemas(settings: Settings) -> dict[str, Any]:
    """The schemas of these endpoints, the request's bounds those of `settings`."""
    request = {
        "type": "object", "required": ["cursors"],
        "properties": {
            "cursors": {"type": "object", "maxProperties": settings.max_pull_spaces,
                        "propertyNames": _ref("Name"),
                        "additionalProperties": {"type": ["string", "null"]},
                        "description": 'space -> a cursor this server issued for it; "" or '
                                       "null: from the start (any other string: that space's "
                                       "error bad_cursor)"},
            "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": settings.max_page,
                      "description": "changes over all spaces together (null: "
                                     "SYNCSERVER_MAX_PAGE)"},
            "collections": {"type": ["array", "null"],
                            "maxItems": settings.max_filter_collections,
                            "items": _ref("Name")},
            "wait": {"not": {}, "description": "refused: no long-poll here (the WebSocket is "
                     "the live path)"}},
    }
    return {"SpacesList": _SPACES_LIST, "SpaceError": _SPACE_ERROR,
            "PullResponse": _PULL_RESPONSE, "PullRequest": request}
