"""The OpenAPI of the Web Push endpoints (webpush_api.py), merged into the document by
openapi.py."""

from __future__ import annotations

from typing import Any

from .openapi_spaces import BEARER, _json, _problem, _ref

_CLIENT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}
_DISABLED = _problem("webpush_disabled: Web Push is off on this server (no VAPID key)")
_AUTH = {"401": _problem("auth on: no valid bearer token"),
         "429": _problem("rate_limited (the user's rate) or too_many_subscriptions: retry "
                         "after Retry-After seconds, or delete a subscription (nothing was "
                         "done)")}
_BODY = {"400": _problem("malformed JSON, a bad field (named), or a push endpoint that is "
                         "not https on a public host"),
         "408": _problem("the body did not arrive within SYNCSERVER_BODY_TIMEOUT"),
         "413": _problem("body larger than 16 KB"),
         "415": _problem("not sent as Content-Type: application/json")}

WEBPUSH_PATHS: dict[str, Any] = {
    "/v1/webpush/key": {"get": {
        "summary": "The VAPID public key: the browser's applicationServerKey",
        "responses": {"200": {"description": "the key", **_json(_ref("WebPushKey"))},
                      "404": _DISABLED}}},
    "/v1/webpush/subscriptions": {
        "post": {
            "summary": "Register (or replace) this device's push subscription and the spaces "
                       "it follows",
            "security": BEARER,
            "requestBody": {"required": True, **_json(_ref("WebPushRegistration"))},
            "responses": {
                "201": {"description": "stored", **_json(_ref("WebPushRegistered"))},
                **_BODY, **_AUTH,
                "403": _problem("forbidden: a space the token does not read, or a client id "
                                "of another user"),
                "404": _DISABLED,
                "503": _problem("storage unavailable: retry after Retry-After seconds")}},
        "delete": {
            "summary": "Remove this device's push subscription (204 also when none)",
            "security": BEARER,
            "parameters": [{"name": "client_id", "in": "query", "required": True,
                            "schema": _CLIENT_ID}],
            "responses": {
                "204": {"description": "removed, or there was none"},
                "400": _problem("a bad client_id"), **_AUTH, "404": _DISABLED,
                "503": _problem("storage unavailable: retry after Retry-After seconds")}}},
    "/v1/notify": {"post": {
        "summary": "Send an app notification to the devices subscribed to a space, except "
                   "the sender's own",
        "security": BEARER,
        "requestBody": {"required": True, **_json(_ref("Notification"))},
        "responses": {
            "202": {"description": "queued", **_json(_ref("NotifyQueued"))},
            **_BODY, **_AUTH,
            "403": _problem("forbidden: the token does not write the space"),
            "404": _DISABLED,
            "503": _problem("storage unavailable: retry after Retry-After seconds")}}},
}

_KEYS = {"type": "object", "required": ["p256dh", "auth"],
         "properties": {"p256dh": {"type": "string", "maxLength": 200,
                                   "description": "base64url P-256 public key (65 bytes)"},
                        "auth": {"type": "string", "maxLength": 200,
                                 "description": "base64url auth secret (16 bytes)"}}}

WEBPUSH_SCHEMAS: dict[str, Any] = {
    "WebPushKey": {"type": "object", "required": ["public_key"],
                   "properties": {"public_key": {"type": "string"}}},
    "WebPushRegistration": {
        "type": "object", "required": ["client_id", "subscription", "spaces"],
        "properties": {
            "client_id": _CLIENT_ID,
            "subscription": {"type": "object", "required": ["endpoint", "keys"],
                             "description": "PushSubscription.toJSON()",
                             "properties": {"endpoint": {"type": "string", "maxLength": 2048,
                                                         "format": "uri"},
                                            "expirationTime": {"type": ["number", "null"]},
                                            "keys": _KEYS}},
            "spaces": {"type": "array", "minItems": 1, "maxItems": 1000,
                       "items": {"type": "string"},
                       "description": "space names; user-{sub} resolves to the token's"}}},
    "WebPushRegistered": {"type": "object", "required": ["client_id", "spaces"],
                          "properties": {"client_id": {"type": "string"},
                                         "spaces": {"type": "array",
                                                    "items": {"type": "string"}}}},
    "Notification": {
        "type": "object", "required": ["space", "title"],
        "properties": {"space": _ref("Name"),
                       "title": {"type": "string", "minLength": 1, "maxLength": 200},
                       "body": {"type": "string", "maxLength": 1000},
                       "url": {"type": "string", "maxLength": 1000, "pattern": "^/(?!/)"},
                       "tag": {"type": "string", "maxLength": 64},
                       "client_id": {**_CLIENT_ID, "description": "auth off: the sender's "
                                     "device, not notified"}}},
    "NotifyQueued": {"type": "object", "required": ["devices"],
                     "properties": {"devices": {"type": "integer", "minimum": 0}}},
}
