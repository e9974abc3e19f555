"""The OpenAPI 3.1 document: every HTTP endpoint, and the WebSocket messages (x-websocket)."""

from __future__ import annotations

from typing import Any

from .version import PROTOCOL_VERSION, VERSION

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": PROBLEM}}}


def _auth(forbidden: str) -> dict[str, Any]:
    """The answers of auth (`--auth jwt`, docs/security.md)."""
    return {"401": _problem("auth on: no valid bearer token"), "403": _problem(forbidden)}


# A bearer JWT when auth is on, nothing when it is off.
BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {}]


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "code", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "code": {"type": "string"},
                       "detail": {"type": "string"}},
    },
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
        "required": ["mid", "space", "collection", "id", "op", "base_version", "hlc"],
        "properties": {"mid": {"type": "integer", "minimum": 1},
                       "space": {"type": "string"}, "collection": {"type": "string"},
                       "id": {"type": "string"},
                       "op": {"type": "string", "enum": ["put", "patch", "delete"]},
                       "data": {"type": ["object", "null"]},
                       "base_version": {"type": "integer", "minimum": 0},
                       "hlc": {"type": "string"}},
    },
    "PushRequest": {
        "type": "object", "required": ["client_id", "mutations"],
        "properties": {"client_id": {"type": "string"},
                       "protocol": {"type": "integer", "enum": [1, 2], "default": 1},
                       "mutations": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/Mutation"}}},
    },
    "MutationResult": {
        "type": "object", "required": ["mid", "status"],
        "properties": {"mid": {"type": ["integer", "null"]},
                       "status": {"type": "string",
                                  "enum": ["applied", "merged", "conflict", "rejected"]},
                       "version": {"type": "integer"}, "seq": {"type": "integer"},
                       "code": {"type": "string"}, "message": {"type": "string"},
                       "record": {"$ref": "#/components/schemas/Record"},
                       "duplicate": {"type": "boolean"}},
    },
    "PushResponse": {
        "type": "object",
        "properties": {"results": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/MutationResult"}},
                       "cursors": {"type": "object",
                                   "additionalProperties": {"type": "string"}}},
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
                    "1001": "server shutting down"},
    "description": "JSON text frames; see docs/protocol.md",
}


def _param(name: str, schema: dict[str, Any], required: bool, description: str) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def document() -> dict[str, Any]:
    return {
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
                    "413": _problem("batch too large"),
                    "415": _problem("not sent as Content-Type: application/json"),
                    **_auth("auth on: the client_id belongs to another user"),
                    "503": _problem("storage unavailable (nothing stored): retry after "
                                    "Retry-After seconds"),
                }}},
            "/v1/changes": {"get": {
                "summary": "Changes of a space after a cursor (long-poll with wait)",
                "security": BEARER,
                "parameters": [
                    _param("space", {"type": "string"}, True, "the space"),
                    _param("since", {"type": "string"}, False, "cursor; empty: from start"),
                    _param("limit", {"type": "integer", "minimum": 1}, False, "page size"),
                    _param("collections", {"type": "string"}, False, "comma-separated"),
                    _param("wait", {"type": "number", "minimum": 0}, False,
                           "long-poll seconds"),
                ],
                "responses": {
                    "200": {"description": "a page of changes",
                            **_json({"$ref": "#/components/schemas/ChangesPage"})},
                    "400": _problem("bad parameter or cursor"),
                    "410": _problem("resync required"),
                    **_auth("auth on: the token cannot read the space"),
                }}},
            "/v1/conflicts": {"get": {
                "summary": "The conflict audit: automatic resolutions and open conflicts",
                "security": BEARER,
                "parameters": [
                    _param("space", {"type": "string"}, False, "only this space"),
                    _param("collection", {"type": "string"}, False, "only this collection"),
                    _param("id", {"type": "string"}, False, "only this record"),
                    _param("status", {"type": "string", "enum": ["open", "resolved"]}, False,
                           "open or resolved"),
                    _param("after", {"type": "integer"}, False, "page after this conflict id"),
                    _param("limit", {"type": "integer"}, False, "page size, up to 1000"),
                ],
                "responses": {"200": {"description": "conflicts, more, next"},
                              "400": _problem("bad parameter"),
                              **_auth("auth on: the token cannot read the space")}}},
            "/v1/conflicts/{conflict_id}/resolve": {"post": {
                "summary": "Resolve an open (manual) conflict; writes a new record version",
                "security": BEARER,
                "parameters": [{"name": "conflict_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "requestBody": {"required": True, **_json({"type": "object"})},
                "responses": {"200": {"description": "the resolved conflict and record"},
                              "400": _problem("bad resolution"),
                              "404": _problem("no such conflict"),
                              "409": _problem("already resolved"),
                              "415": _problem("not sent as Content-Type: application/json"),
                              **_auth("auth on: the token cannot write the space")}}},
            "/v1/ws": {"get": {
                "summary": "WebSocket channel (upgrade)", "x-websocket": WS_MESSAGES,
                "responses": {"101": {"description": "switching protocols"},
                              "403": {"description": "a browser page of an origin that is "
                                      "neither the server's nor in SYNCSERVER_CORS_ORIGINS"}}}},
            "/healthz": {"get": {"summary": "Health",
                                 "responses": {"200": {"description": "ok"},
                                               "503": {"description": "the database does not "
                                                       "answer or cannot commit"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text format"}}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI"}}}},
        },
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
