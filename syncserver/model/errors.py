"""The error contract: stable codes, one problem+json body shape (RFC 9457)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson
from starlette.responses import Response


class ErrorCode(str, Enum):
    MALFORMED_JSON = "malformed_json"
    INVALID_REQUEST = "invalid_request"
    BAD_CURSOR = "bad_cursor"
    RESYNC_REQUIRED = "resync_required"
    BATCH_TOO_LARGE = "batch_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    SERVER_BUSY = "server_busy"
    REQUEST_TIMEOUT = "request_timeout"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    HEADERS_TOO_LARGE = "headers_too_large"
    UPGRADE_REQUIRED = "upgrade_required"
    TOO_MANY_SPACES = "too_many_spaces"
    WEBPUSH_DISABLED = "webpush_disabled"
    # per-mutation rejection codes (a push result, not an HTTP status)
    INVALID_MUTATION = "invalid_mutation"
    OPERATION_TYPE_MISMATCH = "operation_type_mismatch"
    UNKNOWN_OP = "unknown_op"
    RECORD_TOO_LARGE = "record_too_large"
    MUTATION_ID_REUSED = "mutation_id_reused"
    INVALID_HLC = "invalid_hlc"
    MUTATION_EXPIRED = "mutation_expired"
    # per-mutation, of a declared collections file (--collections): stored as the result
    SCHEMA_INVALID = "schema_invalid"  # also a conflict resolution's 422
    UNKNOWN_COLLECTION = "unknown_collection"
    UPGRADE_FAILED = "upgrade_failed"
    # UPGRADE_REQUIRED (above) is also a mutation's: its app version is below min_app_version
    # conflict codes
    STALE_BASE_VERSION = "stale_base_version"
    CONFLICT_OPEN = "conflict_open"
    RESOLVER_FAILED = "resolver_failed"
    CONFLICT_NOT_FOUND = "conflict_not_found"
    CONFLICT_CLOSED = "conflict_closed"


STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.BAD_CURSOR: 400,
    ErrorCode.RESYNC_REQUIRED: 410,
    ErrorCode.BATCH_TOO_LARGE: 413,
    ErrorCode.RECORD_TOO_LARGE: 413,  # a conflict resolution's (in a push: a rejection)
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.STORAGE_UNAVAILABLE: 503,
    ErrorCode.ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: 429,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_CONNECTIONS: 429,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.UPGRADE_REQUIRED: 426,  # GET /v1/ws without a handshake (in a push: a result)
    ErrorCode.SCHEMA_INVALID: 422,  # a conflict resolution's record (in a push: a result)
    ErrorCode.TOO_MANY_SPACES: 400,
    ErrorCode.WEBPUSH_DISABLED: 404,
    ErrorCode.CONFLICT_NOT_FOUND: 404,
    ErrorCode.CONFLICT_CLOSED: 409,
}


class SyncError(Exception):
    """A request-level failure, turned into a problem+json answer (HTTP) or error frame (WS)."""

    def __init__(self, code: ErrorCode, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}  # HTTP headers of the answer (WWW-Authenticate)

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        return problem_body(self.code, self.detail, self.status, **self.extra)


def problem_body(code: ErrorCode, detail: str, status: int, **extra: Any) -> dict[str, Any]:
    title = code.value.replace("_", " ").capitalize()
    return {
        "type": f"https://syncserver.dev/errors/{code.value}",
        "title": title,
        "status": status,
        "code": code.value,
        "detail": detail,
        **extra,
    }


def problem_response(error: SyncError) -> Response:
    retry_after = error.extra.get("retry_after")  # seconds, in the body and as the header
    headers = dict(error.headers)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type="application/problem+json",
        headers=headers or None,
    )
