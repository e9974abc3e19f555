"""Parsing and validating one mutation of a push batch, with no storage in sight."""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

import orjson

from . import exact_json, hlc, incidents
from .errors import ErrorCode

SPACE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
OPS = frozenset({"put", "patch", "delete"})
MAX_INT = 2**63 - 1  # what a 64-bit database column holds
DEFAULT_MAX_DEPTH = 64  # settings.max_depth: levels of objects and arrays in a record's data
MAX_APP_VERSION = 2**31 - 1  # an app version: a whole number from 1 (collections file, push)


class Problem(NamedTuple):
    """Why a mutation is rejected, found while parsing it."""

    code: ErrorCode
    message: str


class Mutation:
    """A well-formed mutation; `fingerprint` identifies its content for replay checks."""

    __slots__ = (
        "app_version",
        "base_version",
        "collection",
        "data",
        "data_json",
        "fingerprint",
        "hlc",
        "id",
        "mid",
        "op",
        "space",
    )

    def __init__(self, mid: int, space: str, collection: str, record_id: str, op: str,
                 data: Any, data_json: bytes, base_version: int, stamp: str,
                 fingerprint: bytes, app_version: int = 1) -> None:
        self.mid = mid
        self.space = space
        self.collection = collection
        self.id = record_id
        self.op = op
        self.data = data
        self.data_json = data_json
        self.base_version = base_version
        self.hlc = stamp  # a valid HLC string (hlc.valid)
        self.fingerprint = fingerprint
        self.app_version = app_version  # the writer's app schema version (none stated: 1)


class Rejection:
    """A mutation that failed validation. `mid` is None when it has no usable id."""

    __slots__ = ("code", "error_id", "fingerprint", "message", "mid")

    def __init__(self, mid: int | None, code: ErrorCode, message: str,
                 fingerprint: bytes = b"", error_id: str | None = None) -> None:
        self.mid = mid
        self.code = code
        self.message = message
        self.fingerprint = fingerprint
        self.error_id = error_id  # names the server's log line of an internal error


def valid_client_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def parse_mutation(raw: object, max_record_bytes: int,
                   max_depth: int = DEFAULT_MAX_DEPTH,
                   app_version: int | None = None) -> Mutation | Rejection:
    """Validate one mutation of a push batch. Whatever it holds, the answer is a Mutation
    or its Rejection, never an exception: a poison mutation must not fail its batch.

    `app_version`: the push body's, for a mutation that states none (neither: 1). A stated
    app version is part of the fingerprint, no statement is not: a mutation queued before
    its client stated versions replays as the same mutation.

    The hot path of push: fields are read once into locals, the checks run cheapest first,
    and the checks of what the data holds cost nearly nothing for ordinary data (measured:
    about 0.3 us of a mutation's ~25 us, for a 200-byte record)."""
    try:
        if not isinstance(raw, dict):
            return Rejection(None, ErrorCode.INVALID_MUTATION, "a mutation is a JSON object")
        g = raw.get
        mid: Any = g("mid")
        if type(mid) is not int or not 1 <= mid <= MAX_INT:  # bool is an int subclass: no
            return Rejection(None, ErrorCode.INVALID_MUTATION,
                             f"mid must be an integer from 1 to {MAX_INT}")
        space: Any = g("space")
        collection: Any = g("collection")
        record_id: Any = g("id")
        op: Any = g("op")
        base: Any = g("base_version")
        stamp: Any = g("hlc")
        data = g("data")
        stated: Any = None  # (a test for the key costs less than a get: most have none)
        version = app_version
        if "app_version" in raw:
            stated = whole(raw["app_version"])
            if stated is not None:  # null: not stated
                version = stated
        # Serialize the data once: it is both the fingerprint's input and (for put) what we
        # store. What orjson cannot encode (nesting past 254 levels, an integer beyond 64
        # bits: exact_json) is rejected, never stored (it was once stored as null, and the
        # record then failed every batch that touched it).
        encoded: bytes | None
        try:
            encoded = orjson.dumps(data)
        except orjson.JSONEncodeError:
            encoded = None
        data_json = b"null" if encoded is None else encoded  # the fingerprint's input as ever
        problem = _problem(space, collection, record_id, op, base, data)
        # A path of n levels is at least 2n bytes of JSON (`[]` per array; `{"":` and `}`
        # per object, but 2 for the last): most data is ruled out by its length, most of
        # the rest by a count of `[` (one pass; a pass costs ~10 instructions per byte).
        if problem is None and (encoded is None or (len(encoded) > 2 * max_depth and (
                encoded.count(b"[") + len(encoded) // 5 + 1 > max_depth))):
            problem = _data_problem(data, encoded, max_depth)
        if problem is None and stated is not None and (
                type(stated) is not int or not 1 <= stated <= MAX_APP_VERSION):
            problem = Problem(ErrorCode.INVALID_MUTATION, APP_VERSION_RULE)
        if problem is not None:
            return Rejection(mid, problem.code, problem.message,
                             fingerprint(space, collection, record_id, op, base, stamp,
                                         data_json, version))
        if len(data_json) > max_record_bytes:
            return Rejection(mid, ErrorCode.RECORD_TOO_LARGE,
                             too_large(len(data_json), max_record_bytes),
                             fingerprint(space, collection, record_id, op, base, stamp,
                                         data_json, version))
        if type(stamp) is not str or hlc.HLC_PATTERN.fullmatch(stamp) is None:  # hlc.valid
            return Rejection(mid, ErrorCode.INVALID_HLC,
                             "hlc must be '<13-digit ms>:<5-digit counter>:<node>'",
                             fingerprint(space, collection, record_id, op, base, stamp,
                                         data_json, version))
        # Every field checked: the strings match patterns of JSON- and repr-safe characters
        # and base is an int, so the fingerprint's identity is the same text without repr()
        # (tests/core/test_fingerprint.py; ~3,000 instructions less per mutation).
        identity = f"'{space}'\x00'{collection}'\x00'{record_id}'\x00'{op}'\x00{base}\x00" \
            f"'{stamp}'\x00".encode()
        if version is None:
            return Mutation(mid, space, collection, record_id, op, data, data_json, base,
                            stamp, hashlib.blake2b(identity + data_json, digest_size=16).digest())
        return Mutation(mid, space, collection, record_id, op, data, data_json, base, stamp,
                        hashlib.blake2b(identity + data_json + b"\x00app_version=%d" % version,
                                        digest_size=16).digest(), version)
    except Exception as exc:  # a bug: this mutation's rejection, logged for the operator
        error_id = incidents.report("parsing a mutation", exc)
        mid = raw.get("mid") if isinstance(raw, dict) else None
        return Rejection(mid if type(mid) is int and 1 <= mid <= MAX_INT else None,
                         ErrorCode.INTERNAL_ERROR, incidents.message(error_id),
                         error_id=error_id)


def fingerprint(space: Any, collection: Any, record_id: Any, op: Any, base: Any, stamp: Any,
                data_json: bytes, app_version: Any = None) -> bytes:
    """What identifies a mutation's content for replay checks, whatever its fields hold.
    The format is stored with every result (the mutation log): keep it. parse_mutation
    computes the same bytes more cheaply for a mutation whose fields all passed. An app
    version comes last, and only when one is stated (data_json is JSON text: it holds no
    NUL byte, so nothing else ends the same way)."""
    try:
        identity = f"{space!r}\x00{collection!r}\x00{record_id!r}\x00{op!r}\x00" \
            f"{base!r}\x00{stamp!r}\x00".encode()
        tail = b"" if app_version is None else f"\x00app_version={app_version!r}".encode()
    except RecursionError:  # a field nested ~1000 levels deep: rejected for its type
        identity, tail = b"\x00deep\x00", b""
    return hashlib.blake2b(identity + data_json + tail, digest_size=16).digest()


def whole(value: Any) -> Any:
    """A float without a fraction (2.0) as the int it is: JSON Schema, and so the OpenAPI
    document, counts it an integer. Anything else as it is."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


APP_VERSION_RULE = f"app_version must be an integer from 1 to {MAX_APP_VERSION} (the app's " \
    "schema version, docs/protocol.md), or left out"


def too_large(size: int, limit: int) -> str:
    return f"data is {size} bytes; the limit is {limit} (SYNCSERVER_MAX_RECORD_BYTES)"


def data_problem(data: Any, max_record_bytes: int,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[bytes, Problem | None]:
    """A mutation's data made on the server's side (an old app's data upgraded), held to
    what parse_mutation asks of a mutation's data: its JSON, and what is wrong with it
    (None: nothing). The caller has checked it is JSON (merge.not_json)."""
    try:
        encoded: bytes | None = orjson.dumps(data)
    except orjson.JSONEncodeError:
        encoded = None
    problem = _data_problem(data, encoded, max_depth)  # (rare: without the prefilter)
    if problem is not None:
        return b"", problem
    assert encoded is not None  # _data_problem finds a problem in what did not encode
    if len(encoded) > max_record_bytes:
        return b"", Problem(ErrorCode.RECORD_TOO_LARGE,
                            too_large(len(encoded), max_record_bytes))
    return encoded, None


def _data_problem(data: Any, encoded: bytes | None,
                  max_depth: int) -> Problem | None:
    """What makes well-typed data unfit to store, once the cheap checks found it suspect:
    it did not encode, or it has more brackets than the depth limit."""
    if encoded is None:
        if exact_json.holds_big_integer(data):
            return Problem(ErrorCode.INVALID_MUTATION, (
                "data holds an integer beyond 64 bits (integers from -2**63 to 2**64-1 are "
                "kept exactly): send it as a string"))
        return Problem(ErrorCode.INVALID_MUTATION, _too_deep(min(max_depth, 254)))
    if encoded.count(b"{") + encoded.count(b"[") > max_depth and \
            _deeper_than(data, max_depth):
        return Problem(ErrorCode.INVALID_MUTATION, _too_deep(max_depth))
    return None


def _too_deep(max_depth: int) -> str:
    return f"data nests deeper than {max_depth} levels of objects and arrays " \
        "(SYNCSERVER_MAX_DEPTH)"


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether a container nests more than `levels` levels deep (itself is level 1). The
    recursion is bounded by `levels`."""
    if levels <= 0:
        return True
    for item in value.values() if type(value) is dict else value:
        if (type(item) is dict or type(item) is list) and _deeper_than(item, levels - 1):
            return True
    return False


_known_names: set[str] = set()  # space and collection names seen valid: few, and hot


def _problem(space: Any, collection: Any, record_id: Any, op: Any, base: Any,
             data: Any) -> Problem | None:
    if not (type(space) is str and space in _known_names):  # the hot case is one lookup
        problem = _name_problem("space", space)
        if problem is not None:
            return problem
    if not (type(collection) is str and collection in _known_names):
        problem = _name_problem("collection", collection)
        if problem is not None:
            return problem
    if type(record_id) is not str or ID_PATTERN.fullmatch(record_id) is None:
        return Problem(ErrorCode.INVALID_MUTATION,
                       f"id must be a string matching {ID_PATTERN.pattern}")
    if type(op) is not str or op not in OPS:
        return Problem(ErrorCode.UNKNOWN_OP,
                       f"op must be one of {', '.join(sorted(OPS))}, got {op!r}")
    if type(base) is not int or not 0 <= base <= MAX_INT:
        return Problem(ErrorCode.INVALID_MUTATION,
                       f"base_version must be an integer from 0 to {MAX_INT}")
    if op == "delete":
        if data is not None:
            return Problem(ErrorCode.INVALID_MUTATION, "delete takes no data")
    elif type(data) is not dict:
        return Problem(ErrorCode.INVALID_MUTATION, f"{op} needs data, a JSON object")
    return None


def _name_problem(name: str, value: Any) -> Problem | None:
    if type(value) is not str:
        return Problem(ErrorCode.INVALID_MUTATION,
                       f"{name} must be a string matching {SPACE_PATTERN.pattern}")
    if SPACE_PATTERN.fullmatch(value) is None:
        return Problem(ErrorCode.INVALID_MUTATION, f"{name} must match {SPACE_PATTERN.pattern}")
    if len(_known_names) < 10_000:
        _known_names.add(value)
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
