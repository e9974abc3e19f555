"""The OpenAPI of GET /v1/collections (collections_api.py), merged into the document by
openapi.py."""

from __future__ import annotations

from typing import Any

from .openapi_spaces import BEARER, _json, _problem, _ref

_ROLES = {"type": "array", "minItems": 1, "items": {"type": "string"},
          "description": 'role names; "*": anyone the space grants; "owner": the '
                         "record's creator"}
_HEADERS = {"ETag": {"description": "strong: the same for every caller until the server "
                                    "restarts with another collections file",
                     "schema": {"type": "string"}},
            "Cache-Control": {"description": "no-cache: revalidate before each use",
                              "schema": {"type": "string", "const": "no-cache"}}}

COLLECTIONS_PATHS: dict[str, Any] = {
    "/v1/collections": {"get": {
        "summary": "The declared collections (--collections FILE): each one's JSON Schema, "
                   "roles, policy and app version, as the client checks a write before "
                   "queuing it",
        "security": BEARER,
        "parameters": [{"name": "If-None-Match", "in": "header", "required": False,
                        "schema": {"type": "string"},
                        "description": "the ETag of a copy held: 304 while it is current"}],
        "responses": {
            "200": {"description": "the declaration; `declared` false and no collections "
                                   "when the server has no collections file",
                    "headers": _HEADERS, **_json(_ref("Collections"))},
            "304": {"description": "If-None-Match names the current ETag: the copy held is "
                                   "current", "headers": _HEADERS},
            "401": _problem("auth on: no valid bearer token"),
            "429": _problem("auth on: the user's rate (SYNCSERVER_RATE_LIMIT) is spent, "
                            "rate_limited: retry after Retry-After seconds"),
        }}},
}

COLLECTIONS_SCHEMAS: dict[str, Any] = {
    "Collections": {
        "type": "object",
        "required": ["declared", "app_version", "min_app_version", "undeclared",
                     "collections"],
        "properties": {
            "declared": {"type": "boolean", "description": "false: no collections file, "
                         "every collection open as before"},
            "app_version": {"type": "integer", "minimum": 1},
            "min_app_version": {"type": "integer", "minimum": 1,
                                "description": "writes stamped with an older app_version "
                                               "are rejected upgrade_required"},
            "undeclared": {"type": "string", "enum": ["reject", "allow"],
                           "description": "writes to a collection not listed: "
                                          "unknown_collection, or taken as before"},
            "collections": {"type": "object", "propertyNames": _ref("Name"),
                            "additionalProperties": _ref("DeclaredCollection")}}},
    "DeclaredCollection": {
        "type": "object",
        "required": ["policy", "version", "schema", "read", "create", "update", "delete"],
        "properties": {
            "policy": {"type": ["string", "null"],
                       "description": "null: the server's --policies / --default-policy"},
            "version": {"type": "integer", "minimum": 1,
                        "description": "the app version of the current schema"},
            "schema": {"type": ["object", "null"],
                       "description": "the JSON Schema 2020-12 of a record's data; null: "
                                      "any object"},
            "read": _ROLES, "create": _ROLES, "update": _ROLES, "delete": _ROLES}},
}
