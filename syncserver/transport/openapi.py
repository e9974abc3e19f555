"""The OpenAPI 3.1 document: every HTTP endpoint, and the WebSocket messages (x-websocket)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from ..config.settings import Settings
from ..model.hlc import HLC_PATTERN, SERVER_NODE
from ..model.mutations import ID_PATTERN, MAX_APP_VERSION, MAX_INT, SPACE_PATTERN
from ..model.version import PROTOCOL_VERSION, VERSION
from .openapi_collections import COLLECTIONS_PATHS, COLLECTIONS_SCHEMAS
from .openapi_spaces import SPACES_PATHS, spaces_schemas
from .openapi_webpush import WEBPUSH_PATHS, WEBPUSH_SCHEMAS

APP_VERSION = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_APP_VERSION,
               "description": "the writer's app schema version (docs/protocol.md); none or "
                              "null: 1"}

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": PROBLEM}}}


def _auth(forbidden: str, connections: bool = False) -> dict[str, Any]:
    """The answers of auth (`--auth jwt`, docs/security.md), per-user limits included."""
    limited = "auth on: the user's rate (SYNCSERVER_RATE_LIMIT) is spent, rate_limited" + (
        "; or a long-poll while the user holds SYNCSERVER_MAX_USER_CONNECTIONS, "
        "too_many_connections" if connections else "")
    return {"401": _problem("auth on: no valid bearer token"), "403": _problem(forbidden),
            "429": _problem(limited + ": retry after Retry-After seconds (nothing was done)")}


# A bearer JWT when auth is on, nothing when it is off.
BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {}]


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "code", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "code": {"type": "string"},
                       "detail": {"type": "string"}},
    },
    # What the server accepts, so that a generated request the document calls valid is one the
    # server takes (schemathesis checks both directions: tests/security/test_api_fuzz.py).
    "Name": {"type": "string", "pattern": SPACE_PATTERN.pattern},
    "Id": {"type": "string", "pattern": ID_PATTERN.pattern},
    "ClientId": {"type": "string", "pattern": ID_PATTERN.pattern, "not": {"const": SERVER_NODE},
                 "description": f"{SERVER_NODE!r} is reserved for the server's own stamps"},
    "Record": {
        "type": "object",
        "properties": {"space": {"type": "string"}, "collection": {"type": "string"},
                       "id": {"type": "string"}, "version": {"type": "integer"},
                       "seq": {"type": "integer"}, "deleted": {"type": "boolean"},
                       "hlc": {"type": "string"}, "updated_at": {"type": "integer"},
                       "data": {"type": ["object", "null"]}},
    },
    "Mutation": {
        "type": "object",
        "description": "A mutation the server can apply. Anything else in `mutations` is "
                       "answered with that mutation's `rejected` result, not with a 4xx: "
                       "one bad mutation never fails its batch.",
        "required": ["mid", "space", "collection", "id", "op", "base_version", "hlc"],
        "properties": {"mid": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                       "space": {"$ref": "#/components/schemas/Name"},
                       "collection": {"$ref": "#/components/schemas/Name"},
                       "id": {"$ref": "#/components/schemas/Id"},
                       "op": {"type": "string", "enum": ["put", "patch", "delete"]},
                       "data": {"type": ["object", "null"]},
                       "base_version": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                       "hlc": {"type": "string", "pattern": HLC_PATTERN.pattern,
                               "description": "its node is the pushing client_id"},
                       "app_version": APP_VERSION},
    },
    "MutationResult": {
        "type": "object", "required": ["mid", "status"],
        "properties": {"mid": {"type": ["integer", "null"]},
                       "status": {"type": "string",
                                  "enum": ["applied", "merged", "conflict", "rejected"]},
                       "version": {"type": "integer"}, "seq": {"type": "integer"},
                       "code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": "string", "description": "operation_type_mismatch: "
                                 "the field the operation could not apply to"},
                       "found": {"type": "string", "description": "operation_type_mismatch: "
                                 "the JSON type the field holds"},
                       "pointer": {"type": "string", "description": "schema_invalid: the "
                                   "RFC 6901 JSON pointer of the failing place in the "
                                   "record's data (\"\": the data itself)"},
                       "error_id": {"type": "string", "description": "internal_error, "
                                    "upgrade_failed: the server log's id of the failure"},
                       "record": {"oneOf": [{"$ref": "#/components/schemas/Record"},
                                            {"type": "null"}],
                                  "description": "the server's record; null when it "
                                                 "has no such record; absent when the "
                                                 "token's roles may not read it"},
                       "collection": {"type": "string", "description": "forbidden by the "
                                      "declared collection's roles: the collection"},
                       "operation": {"type": "string",
                                     "enum": ["create", "update", "delete"],
                                     "description": "forbidden by roles: the operation"},
                       "roles": {"type": "array", "items": {"type": "string"},
                                 "description": "forbidden by roles: the roles that may "
                                                "(\"owner\": the record's creator)"},
                       "conflict_id": {"type": "integer"},
                       "resolution": {"type": "object"},
                       "duplicate": {"type": "boolean"}},
    },
    "PushResponse": {
        "type": "object",
        "properties": {"results": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/MutationResult"}},
                       "cursors": {"type": "object",
                                   "additionalProperties": {"type": "string"}}},
    },
    "Conflict": {
        "type": "object",
        "required": ["id", "space", "collection", "record_id", "client_id", "mid", "policy",
                     "status", "base_version", "server", "client", "outcome", "created_at",
                     "resolved_at"],
        "properties": {"id": {"type": "integer"}, "space": {"type": "string"},
                       "collection": {"type": "string"}, "record_id": {"type": "string"},
                       "client_id": {"type": "string"}, "mid": {"type": "integer"},
                       "policy": {"type": "string"},
                       "status": {"type": "string", "enum": ["open", "resolved"]},
                       "base_version": {"type": "integer"},
                       "server": {"description": "the server's record when the write came"},
                       "client": {"description": "the write"},
                       "outcome": {"type": "object"}, "created_at": {"type": "integer"},
                       "resolved_at": {"type": ["integer", "null"]}},
    },
    "ConflictsPage": {
        "type": "object", "required": ["conflicts", "more", "next"],
        "properties": {"conflicts": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/Conflict"}},
                       "more": {"type": "boolean"}, "next": {"type": "integer"}},
    },
    "Resolution": {
        "oneOf": [
            {"type": "object", "required": ["accept"], "additionalProperties": False,
             "properties": {"accept": {"type": "string", "enum": ["server", "client"]}}},
            {"type": "object", "required": ["data"], "additionalProperties": False,
             "properties": {"data": {"type": "object"}}},
            {"type": "object", "required": ["delete"], "additionalProperties": False,
             "properties": {"delete": {"const": True}}},
        ],
    },
    "Resolved": {
        "type": "object", "required": ["id", "status", "record"],
        "properties": {"id": {"type": "integer"}, "status": {"const": "resolved"},
                       "record": {"oneOf": [{"$ref": "#/components/schemas/Record"},
                                            {"type": "null"}]}},
    },
    "ChangesPage": {
        "type": "object",
        "properties": {"changes": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/Record"}},
                       "cursor": {"type": "string"}, "more": {"type": "boolean"}},
    },
}

WS_MESSAGES = {
    "client": ["hello", "subscribe", "unsubscribe", "push", "ping"],
    "server": ["welcome", "changes", "synced", "push_result", "pong", "error", "resync"],
    "close_codes": {"1003": "binary frame", "4400": "malformed frame",
                    "4408": "slow consumer, after a resync frame per subscription: "
                            "reconnect and resume each space from its resync cursor",
                    "1001": "server shutting down",
                    "4429": "auth on: the user holds SYNCSERVER_MAX_USER_CONNECTIONS, after "
                            "an error frame too_many_connections with retry_after"},
    "description": "JSON text frames; see docs/protocol.md",
}


# An OpenAPI parameter object as the query parameters here use it (the functional form:
# "in" is a keyword).
Parameter = TypedDict("Parameter", {
    "name": str,
    "in": Literal["query"],
    "required": bool,
    "schema": dict[str, Any],
    "description": str,
    "allowEmptyValue": NotRequired[bool],
})


def _param(name: str, schema: dict[str, Any], required: bool, description: str) -> Parameter:
    param: Parameter = {"name": name, "in": "query", "required": required, "schema": schema,
             "description": description}
    if not required:  # the server reads `?limit=` as no limit given: the default
        param["allowEmptyValue"] = True
    return param


_NAME = SPACE_PATTERN.pattern.strip("^$")
COLLECTIONS = f"^({_NAME}(,{_NAME})*)?$"
MAX_CONFLICTS_PAGE = 1000  # http_api.list_conflicts
MAX_AFTER = 1 << 62


def _push_request(max_mutations: int) -> dict[str, Any]:
    return {
        "type": "object", "required": ["client_id", "mutations"],
        "properties": {"client_id": {"$ref": "#/components/schemas/ClientId"},
                       "protocol": {"type": "integer", "enum": [1, 2], "default": 1},
                       "app_version": {**APP_VERSION, "description": "the app version of "
                                       "the mutations that state none"},
                       "mutations": {"type": "array", "maxItems": max_mutations,
                                     "items": {"$ref": "#/components/schemas/Mutation"}}},
    }


def document(settings: Settings | None = None) -> dict[str, Any]:
    """The document of a server with these settings: its limits (page size, long-poll
    wait, mutations per batch) are the bounds of the parameters."""
    settings = settings or Settings()
    schemas = {**SCHEMAS, **spaces_schemas(settings), **COLLECTIONS_SCHEMAS,
               **WEBPUSH_SCHEMAS,
               "PushRequest": _push_request(settings.max_batch_mutations)}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "syncserver", "version": VERSION, "x-protocol": PROTOCOL_VERSION},
        "paths": {
            "/v1/push": {"post": {
                "summary": "Push a batch of mutations",
                "security": BEARER,
                "requestBody": {"required": True,
                                **_json({"$ref": "#/components/schemas/PushRequest"})},
                "responses": {
                    "200": {"description": "one result per mutation",
                            **_json({"$ref": "#/components/schemas/PushResponse"})},
                    "400": _problem("malformed JSON or request"),
                    "408": _problem("the body did not arrive within SYNCSERVER_BODY_TIMEOUT"),
                    "413": _problem("batch too large (mutations or bytes)"),
                    "415": _problem("not sent as Content-Type: application/json"),
                    **_auth("auth on: the client_id belongs to another user"),
                    "503": _problem("storage unavailable (nothing stored): retry after "
                                    "Retry-After seconds"),
                }}},
            "/v1/changes": {"get": {
                "summary": "Changes of a space after a cursor (long-poll with wait)",
                "security": BEARER,
                "parameters": [
                    _param("space", {"$ref": "#/components/schemas/Name"}, True,
                           "the space"),
                    _param("since", {"type": "string"}, False,
                           "a cursor this server issued for this space; empty: from the "
                           "start (any other string: 400 bad_cursor)"),
                    _param("limit", {"type": "integer", "minimum": 1,
                                     "maximum": settings.max_page}, False, "page size"),
                    _param("collections", {"type": "string", "pattern": COLLECTIONS}, False,
                           "comma-separated collection names"),
                    _param("wait", {"type": "number", "minimum": 0,
                                    "maximum": settings.max_wait}, False,
                           "long-poll seconds"),
                ],
                "responses": {
                    "200": {"description": "a page of changes",
                            **_json({"$ref": "#/components/schemas/ChangesPage"})},
                    "400": _problem("bad parameter or cursor"),
                    "410": _problem("resync required"),
                    **_auth("auth on: the token cannot read the space, or its roles may read "
                            "none of a collection the filter names (`collection`)",
                            connections=True),
                    "503": _problem("no room for the page within 10 s (pages held for "
                                    "clients that have not read them): retry after "
                                    "Retry-After seconds"),
                }}},
            **SPACES_PATHS,
            **COLLECTIONS_PATHS,
            **WEBPUSH_PATHS,
            "/v1/conflicts": {"get": {
                "summary": "The conflict audit: automatic resolutions and open conflicts",
                "security": BEARER,
                "parameters": [
                    _param("space", {"type": "string"}, False, "only this space"),
                    _param("collection", {"type": "string"}, False, "only this collection"),
                    _param("id", {"type": "string"}, False, "only this record"),
                    _param("status", {"type": "string", "enum": ["open", "resolved"]}, False,
                           "open or resolved"),
                    _param("after", {"type": "integer", "minimum": 0, "maximum": MAX_AFTER},
                           False, "page after this conflict id"),
                    _param("limit", {"type": "integer", "minimum": 1,
                                     "maximum": MAX_CONFLICTS_PAGE}, False, "page size"),
                ],
                "responses": {"200": {"description": "conflicts, more, next",
                                      **_json({"$ref": "#/components/schemas/ConflictsPage"})},
                              "400": _problem("bad parameter"),
                              **_auth("auth on: the token cannot read the space, or its "
                                      "roles may read none of the collection asked for")}}},
            "/v1/conflicts/{conflict_id}/resolve": {"post": {
                "summary": "Resolve an open (manual) conflict; writes a new record version",
                "security": BEARER,
                "parameters": [{"name": "conflict_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}],
                "requestBody": {"required": True,
                                **_json({"$ref": "#/components/schemas/Resolution"})},
                "responses": {"200": {"description": "the resolved conflict and record",
                                      **_json({"$ref": "#/components/schemas/Resolved"})},
                              "400": _problem("bad resolution"),
                              "404": _problem("no such conflict"),
                              "408": _problem("the body did not arrive in time"),
                              "409": _problem("already resolved"),
                              "413": _problem("body too large (batch_too_large), or the "
                                              "record it writes past "
                                              "SYNCSERVER_MAX_RECORD_BYTES "
                                              "(record_too_large)"),
                              "422": _problem("the record it writes does not match its "
                                              "collection's schema (schema_invalid, with "
                                              "`pointer`)"),
                              "415": _problem("not sent as Content-Type: application/json"),
                              **_auth("auth on: the token cannot write the space, or its "
                                      "roles may not make the write (`collection`, "
                                      "`operation`)"),
                              "503": _problem("storage unavailable (nothing stored): retry "
                                              "after Retry-After seconds")}}},
            "/v1/ws": {"get": {
                "summary": "WebSocket channel (upgrade)", "x-websocket": WS_MESSAGES,
                "description": "Only as a WebSocket handshake (Upgrade: websocket, "
                               "Connection: Upgrade). Other methods: 405 with Allow.",
                "responses": {"101": {"description": "switching protocols"},
                              "426": {**_problem("a plain HTTP GET, not a WebSocket "
                                                 "handshake: upgrade_required"),
                                      "headers": {"Upgrade": {
                                          "description": "websocket",
                                          "schema": {"type": "string",
                                                     "const": "websocket"}}}},
                              "403": {"description": "a browser page of an origin that is "
                                      "neither the server's nor in SYNCSERVER_CORS_ORIGINS"},
                              "503": _problem("the server holds SYNCSERVER_MAX_CONNECTIONS "
                                              "WebSockets: retry after Retry-After seconds")}}},
            "/healthz": {"get": {"summary": "Health",
                                 "responses": {"200": {"description": "ok"},
                                               "503": {"description": "the storage fails: "
                                                       "writes cannot commit, or a read still "
                                                       "meets a storage error",
                                                       **_json(HEALTH_503)}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text format"},
                                               "401": _problem(
                                                   "SYNCSERVER_METRICS_TOKEN is set: send it "
                                                   "as a bearer token"),
                                               "404": _problem("SYNCSERVER_METRICS_TOKEN="
                                                               "off")}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI"}}}},
        },
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
    if settings.dev:
        doc["paths"]["/v1/dev/token"] = DEV_TOKEN
        doc["paths"]["/v1/dev/grants"] = DEV_GRANTS
    return doc


# /healthz's 503 body (storage/health.py; docs/protocol.md, Operations).
HEALTH_503 = {
    "type": "object", "required": ["status", "detail", "error"],
    "properties": {
        "status": {"const": "unavailable"}, "detail": {"type": "string"},
        "error": {"type": "object",
                  "required": ["operation", "kind", "first_at", "last_at", "count"],
                  "properties": {"operation": {"enum": ["read", "write"]},
                                 "kind": {"type": "string"},
                                 "first_at": {"type": "integer"},
                                 "last_at": {"type": "integer"},
                                 "count": {"type": "integer", "minimum": 1}}}}}


# Only on a server run with --dev (docs/security.md, "Dev mode").
DEV_TOKEN = {"post": {
    "summary": "Dev mode only: a token for any user, to callers on this machine",
    "requestBody": {"required": True, **_json({
        "type": "object", "required": ["sub"],
        "properties": {"sub": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,59}$"},
                       "spaces": {"type": "array", "maxItems": 20,
                                  "items": {"$ref": "#/components/schemas/Name"}},
                       "roles": {"description": "the token's roles: a list (in every space "
                                 "it grants) or an object of lists by space, {sub} pattern "
                                 "or \"*\" (docs/security.md, Roles)",
                                 "oneOf": [{"type": "array", "items": {"type": "string"}},
                                           {"type": "object", "additionalProperties": {
                                               "type": "array",
                                               "items": {"type": "string"}}}]}}})},
    "responses": {"200": {"description": "the token and what it grants", **_json({
        "type": "object", "required": ["token", "sub", "spaces", "expires_at"],
        "properties": {"token": {"type": "string"}, "sub": {"type": "string"},
                       "spaces": {"type": "object"},
                       "roles": {"type": "object", "additionalProperties": {
                           "type": "array", "items": {"type": "string"}}},
                       "withheld": {"type": "array", "items": {"type": "string"},
                                    "description": "shared spaces asked for but revoked "
                                                   "from this user (/v1/dev/grants)"},
                       "expires_at": {"type": "integer"}}})},
                  "400": _problem("malformed JSON or request"),
                  "403": _problem("not a caller on this machine, or another user's private "
                                  "space asked for"),
                  "415": _problem("not sent as Content-Type: application/json")}}}

DEV_GRANTS_TABLE = _json({
    "type": "object", "required": ["version", "revoked"],
    "properties": {"version": {"type": "integer", "minimum": 0},
                   "revoked": {"type": "array", "items": {
                       "type": "object", "required": ["sub", "space"],
                       "properties": {"sub": {"type": "string"},
                                      "space": {"type": "string"}}}}}})
DEV_GRANTS = {
    "get": {"summary": "Dev mode only: the shared spaces revoked from users' dev tokens",
            "responses": {"200": {"description": "the table; version grows at each change",
                                  **DEV_GRANTS_TABLE},
                          "403": _problem("not a caller on this machine")}},
    "post": {"summary": "Dev mode only: revoke a shared space from a user's dev tokens, or "
                        "grant it back (the user's devices take it with their next token)",
             "requestBody": {"required": True, **_json({
                 "type": "object", "required": ["sub", "space", "granted"],
                 "properties": {"sub": {"type": "string",
                                        "pattern": "^[A-Za-z0-9_.-]{1,59}$"},
                                "space": {"$ref": "#/components/schemas/Name"},
                                "granted": {"type": "boolean"}}})},
             "responses": {"200": {"description": "the table after the change",
                                   **DEV_GRANTS_TABLE},
                           "400": _problem("malformed JSON or request (a private space "
                                           "user-... cannot be revoked)"),
                           "403": _problem("not a caller on this machine"),
                           "415": _problem("not sent as Content-Type: application/json")}}}
