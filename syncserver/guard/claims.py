"""What a bearer token may hold, read before PyJWT sees it (tokens.py).

A token is refused unless its header and claims are strict JSON objects (no NaN, no
Infinity, no lone surrogate) nested at most MAX_DEPTH levels, and its registered claims have
the types RFC 7519 gives them: NumericDates (`exp`, `nbf`, `iat`) numbers from 0 to
MAX_NUMERIC_DATE, `sub` a non-empty string, `iss` and `jti` strings, `aud` a string or a
list of strings. Other claims are the app's: `spaces` grants nothing where it is malformed
(permissions.py).

Why here and not in PyJWT: what PyJWT does with such values differs between its versions
(2.8 raised OverflowError for an `exp` of `Infinity` and RecursionError for claims nested
thousands deep), and an `exp` of 10**400 passed its checks and failed later as a 500. This
reading is unverified: it only ever refuses. A token it lets through is verified whole by
PyJWT, signature and claim values, so nothing here is trusted.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NamedTuple

import orjson

MAX_DEPTH = 32  # levels of objects and arrays in a header or the claims, the object included
# Seconds since the epoch (year 285 million): past it a float no longer holds every second,
# and no issuer means it.
MAX_NUMERIC_DATE = 2**53


class Unreadable(ValueError):
    """Why a token's header or claims are refused (for the log, never for the client)."""


class Unverified(NamedTuple):
    header: dict[str, Any]
    claims: dict[str, Any]


def read_unverified(token: str) -> Unverified:
    """The header and claims of a compact JWS, unverified; Unreadable when either is not
    what a token may hold (the module's docstring)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unreadable("not a compact JWS (three dot-separated parts)")
    header = _object(parts[0], "header")
    claims = _object(parts[1], "claims")
    problem = claim_type_problem(claims)
    if problem is not None:
        raise Unreadable(problem)
    return Unverified(header, claims)


def _object(segment: str, what: str) -> dict[str, Any]:
    try:  # padded as PyJWT pads it, so both read the same bytes
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = orjson.loads(raw)
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise Unreadable(f"the {what} is not base64url of strict JSON") from None
    if not isinstance(value, dict):
        raise Unreadable(f"the {what} is not a JSON object")
    if _deeper_than(value, MAX_DEPTH):
        raise Unreadable(f"the {what} nests deeper than {MAX_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays in `value` nest deeper than `limit` (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        for child in children:
            if type(child) is dict or type(child) is list:
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def claim_type_problem(claims: dict[str, Any]) -> str | None:
    """What among the registered claims has a type RFC 7519 does not give it (None:
    nothing)."""
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            value = claims[name]  # bool is not a number here; NaN fails the comparison
            if type(value) not in (int, float) or not 0 <= value <= MAX_NUMERIC_DATE:
                return f"{name} is not a NumericDate (a number from 0 to 2**53)"
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return "sub is not a non-empty string"
    for name in ("iss", "jti"):
        if name in claims and not isinstance(claims[name], str):
            return f"{name} is not a string"
    aud = claims.get("aud", "")
    if not isinstance(aud, str) and not (
            isinstance(aud, list) and all(isinstance(item, str) for item in aud)):
        return "aud is not a string or a list of strings"
    return None
