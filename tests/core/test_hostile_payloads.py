"""Guarantees 3 and 9 against hostile payloads, over a real server: a poison mutation is
that mutation's rejection (or is stored exactly as sent), never a 500, never a record that
cannot be read back, and never a jam for the innocent batches that touch the same record
afterwards."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import assert_problem, hlc, pull_all
from tests.server import ServerProcess

from .support import data_snapshot

_ids = itertools.count(1)
_mids: dict[str, itertools.count] = {}


def _mid(client_id: str) -> int:
    return next(_mids.setdefault(client_id, itertools.count(1)))


def _raw_mutation(client_id: str, space: str, record_id: str, op: str, data: bytes | None,
                  base: int, collection: str = "notes") -> bytes:
    """A mutation as JSON text, with `data` spliced in verbatim (numbers JSON cannot carry
    through Python's encoder, bytes that are not UTF-8)."""
    head = orjson.dumps({"mid": _mid(client_id), "space": space, "collection": collection,
                         "id": record_id, "op": op, "base_version": base,
                         "hlc": hlc(client_id)})
    return head if data is None else head[:-1] + b',"data":' + data + b"}"


def _raw_batch(client_id: str, *mutations: bytes) -> bytes:
    return b'{"client_id":' + orjson.dumps(client_id) + b',"mutations":[' + \
        b",".join(mutations) + b"]}"


def _post(c: httpx.Client, body: bytes) -> httpx.Response:
    return c.post("/v1/push", content=body, headers={"content-type": "application/json"})


def _nested(depth: int, leaf: bytes = b"1") -> bytes:
    """An object `depth` levels deep, counting the data object itself as level 1."""
    return b'{"v":' * depth + leaf + b"}" * depth


def _nested_value(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"v": value}
    return value


def _nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


BASE = {"title": "t0"}
REJECTED = ("rejected",)
BODY_400 = ("body",)

# name: (op, data as JSON text, expected) where expected is ("stored", the record's data
# after the hostile write), ("rejected", code, a phrase of the message) or ("body",): the
# whole body is not JSON we accept (400 malformed_json, nothing stored).
CASES: dict[str, tuple[str, bytes, tuple[Any, ...]]] = {
    "put_nested_64": ("put", _nested(64), ("stored", _nested_value(64))),
    "put_nested_65": ("put", _nested(65), ("rejected", "invalid_mutation", "SYNCSERVER_MAX_DEPTH")),
    "put_nested_200": ("put", _nested(200), ("rejected", "invalid_mutation", "nest")),
    "put_nested_300": ("put", _nested(300), ("rejected", "invalid_mutation", "nest")),
    "put_nested_1000": ("put", _nested(1000), ("rejected", "invalid_mutation", "nest")),
    "put_nested_1100": ("put", _nested(1100), BODY_400),
    "put_arrays_to_level_64": ("put", b'{"v":' + b"[" * 63 + b"]" * 63 + b"}",
                               ("stored", {"v": _nested_list(63)})),
    "put_arrays_to_level_65": ("put", b'{"v":' + b"[" * 64 + b"]" * 64 + b"}",
                               ("rejected", "invalid_mutation", "SYNCSERVER_MAX_DEPTH")),
    "put_empty_keys_to_level_65": ("put", b'{"":' * 64 + b"{}" + b"}" * 64,
                                   ("rejected", "invalid_mutation", "SYNCSERVER_MAX_DEPTH")),
    "put_brackets_in_strings_only": ("put", b'{"s":"%s","t":[[1]]}' % (b"[{" * 200),
                                     ("stored", {"s": "[{" * 200, "t": [[1]]})),
    "put_nested_arrays_300": ("put", b'{"v":' + b"[" * 300 + b"]" * 300 + b"}",
                              ("rejected", "invalid_mutation", "nest")),
    "patch_nested_200": ("patch", _nested(200), ("rejected", "invalid_mutation", "nest")),
    "patch_nested_300": ("patch", _nested(300), ("rejected", "invalid_mutation", "nest")),
    "patch_nested_1000": ("patch", _nested(1000), ("rejected", "invalid_mutation", "nest")),
    "patch_nested_1100": ("patch", _nested(1100), BODY_400),
    "delete_with_deep_data": ("delete", _nested(300), ("rejected", "invalid_mutation", "")),
    "put_int_2_63": ("put", b'{"n":%d}' % 2**63, ("stored", {"n": 2**63})),
    "put_int_2_64_minus_1": ("put", b'{"n":%d}' % (2**64 - 1), ("stored", {"n": 2**64 - 1})),
    "put_int_minus_2_63": ("put", b'{"n":%d}' % -(2**63), ("stored", {"n": -(2**63)})),
    "put_int_2_64": ("put", b'{"n":%d}' % 2**64, ("rejected", "invalid_mutation", "string")),
    "put_int_2_70": ("put", b'{"n":%d}' % 2**70, ("rejected", "invalid_mutation", "string")),
    "put_int_minus_2_70": ("put", b'{"n":%d}' % -(2**70),
                           ("rejected", "invalid_mutation", "string")),
    "put_int_minus_2_63_minus_1": ("put", b'{"n":%d}' % (-(2**63) - 1),
                                   ("rejected", "invalid_mutation", "string")),
    "put_int_2_70_deep_in_a_list": ("put", b'{"a":[1,{"b":[%d]}]}' % 2**70,
                                    ("rejected", "invalid_mutation", "string")),
    "patch_int_2_70": ("patch", b'{"n":%d}' % 2**70, ("rejected", "invalid_mutation", "string")),
    "patch_inc_2_70": ("patch", b'{"n":{"$inc":%d}}' % 2**70,
                       ("rejected", "invalid_mutation", "string")),
    "put_big_int_as_a_string": ("put", b'{"n":"%d"}' % 2**70, ("stored", {"n": str(2**70)})),
    "put_long_digit_runs_in_strings": (
        "put", b'{"a":"%d","b":"x\\"%d"}' % (2**80, 2**90),
        ("stored", {"a": str(2**80), "b": 'x"%d' % 2**90})),
    "put_float_with_20_digits": ("put", b'{"f":12345678901234567890.5}',
                                 ("stored", {"f": 12345678901234567890.5})),
    "put_float_exponent": ("put", b'{"f":1e300,"g":-2.5e-300}',
                           ("stored", {"f": 1e300, "g": -2.5e-300})),
    "put_1e400": ("put", b'{"f":1e400}', BODY_400),
    "put_minus_1e400": ("put", b'{"f":-1e400}', BODY_400),
    "put_nan": ("put", b'{"f":NaN}', BODY_400),
    # Issue 18: a non-zero number too small for a double was stored as 0.0, while its twin
    # too large for one (1e400) was refused: both are refused now.
    "put_1e_minus_400": ("put", b'{"f":1e-400}', BODY_400),
    "put_minus_1e_minus_400": ("put", b'{"f":-1e-400}', BODY_400),
    "put_2e_minus_324": ("put", b'{"f":2e-324}', BODY_400),
    "put_1e_minus_400_deep_in_a_list": ("put", b'{"a":[1,{"b":[1E-400]}]}', BODY_400),
    "patch_inc_1e_minus_400": ("patch", b'{"n":{"$inc":1e-400}}', BODY_400),
    "put_underflow_written_with_zeros": ("put", b'{"f":0.%s1}' % (b"0" * 400), BODY_400),
    "put_underflow_by_a_big_exponent": ("put", b'{"f":1.5e-99999999999999999999}', BODY_400),
    "put_zero_with_a_big_exponent": ("put", b'{"f":0e-400,"g":0.000e-999,"h":-0.0}',
                                     ("stored", {"f": 0.0, "g": 0.0, "h": -0.0})),
    "put_subnormals": ("put", b'{"f":5e-324,"g":3e-324,"h":2.5e-310}',
                       ("stored", {"f": 5e-324, "g": 5e-324, "h": 2.5e-310})),
    "put_exponent_digits_in_strings": ("put", b'{"s":"1e-400","t":"0.%s1"}' % (b"0" * 400),
                                       ("stored", {"s": "1e-400", "t": "0.%s1" % ("0" * 400)})),
    "put_lone_surrogate": ("put", b'{"s":"\\ud800"}', BODY_400),
    "put_lone_low_surrogate_in_a_key": ("put", b'{"\\udc00":1}', BODY_400),
    "put_invalid_utf8": ("put", b'{"s":"\xff\xfe"}', BODY_400),
    "put_overlong_utf8": ("put", b'{"s":"\xc0\xaf"}', BODY_400),
    "put_nul_in_a_key": ("put", b'{"a\\u0000b":1,"title":"nul"}',
                         ("stored", {"a\x00b": 1, "title": "nul"})),
    "put_nul_in_a_value": ("put", b'{"title":"x\\u0000y"}', ("stored", {"title": "x\x00y"})),
    "put_duplicate_keys": ("put", b'{"title":"first","title":"last"}',
                           ("stored", {"title": "last"})),
    "patch_duplicate_keys": ("patch", b'{"x":1,"x":null,"x":2}', ("stored", {**BASE, "x": 2})),
    "put_empty_key": ("put", b'{"":1}', ("stored", {"": 1})),
    "patch_reserved_marker_text": ("patch", b'{"m":"\\u0000"}', ("stored", {**BASE, "m": "\x00"})),
}


@pytest.fixture(scope="module")
def c(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=60) as client:
        yield client


def _record(c: httpx.Client, space: str, record_id: str) -> dict[str, Any]:
    state, _cursor = pull_all(c, space)
    return state[("notes", record_id)]


def _innocent_batch(c: httpx.Client, space: str, record_id: str) -> None:
    """Another client's patch of the same record, with unrelated writes around it: answered
    200, every mutation settled."""
    version = _record(c, space, record_id)["version"]
    client_id = f"innocent-{uuid.uuid4().hex[:8]}"
    body = _raw_batch(
        client_id,
        _raw_mutation(client_id, space, f"before-{next(_ids)}", "put", b'{"k":1}', 0),
        _raw_mutation(client_id, space, record_id, "patch", b'{"done":true}', version),
        _raw_mutation(client_id, space, f"after-{next(_ids)}", "put", b'{"k":2}', 0))
    r = _post(c, body)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["applied"] * 3, r.text


@pytest.mark.parametrize("op, data, expected", CASES.values(), ids=CASES.keys())
def test_hostile_payload_is_settled_alone_and_the_record_stays_readable(
        c, shared_server, space, op, data, expected):
    record_id = f"r{next(_ids)}"
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    r = _post(c, _raw_batch(owner, _raw_mutation(owner, space, record_id, "put",
                                                 orjson.dumps(BASE), 0)))
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied", r.text

    hostile = f"hostile-{uuid.uuid4().hex[:8]}"
    before = data_snapshot(shared_server.db)
    body = _raw_batch(hostile,
                      _raw_mutation(hostile, space, record_id, op, data, 1),
                      _raw_mutation(hostile, space, f"neighbour-{next(_ids)}", "put",
                                    b'{"k":0}', 0))
    r = _post(c, body)
    if expected[0] == "body":
        assert_problem(r, 400, "malformed_json")
        assert data_snapshot(shared_server.db) == before  # nothing stored
        stored = BASE
    else:
        assert r.status_code == 200, r.text
        result, neighbour = r.json()["results"]
        assert neighbour["status"] == "applied", neighbour
        if expected[0] == "rejected":
            assert result["status"] == "rejected", result
            assert result["code"] == expected[1], result
            assert expected[2] in result["message"], result
            stored = BASE
        else:
            assert result["status"] == "applied", result
            stored = expected[1]
    assert _record(c, space, record_id)["data"] == (None if op == "delete" and
                                                    expected[0] == "stored" else stored)

    _innocent_batch(c, space, record_id)
    record = _record(c, space, record_id)
    assert record["data"] == {**stored, "done": True}
    assert record["deleted"] is False


@pytest.mark.parametrize("conflict_id", [2**63 - 1, 2**63, 2**64, 2**70, 10**40])
def test_a_conflict_id_beyond_64_bits_is_not_found(c, conflict_id):
    r = c.post(f"/v1/conflicts/{conflict_id}/resolve", json={"accept": "server"})
    assert_problem(r, 404, "conflict_not_found")


@pytest.mark.parametrize("params", [
    {"after": str(2**70)}, {"after": "-1"}, {"limit": str(2**70)}, {"limit": "0"},
    {"after": "1e3"}, {"after": "9" * 5000}, {"limit": "１０"},
], ids=["after_2_70", "after_negative", "limit_2_70", "limit_0", "after_float",
        "after_5000_digits", "limit_fullwidth_digits"])
def test_bad_conflict_list_params_are_a_400(c, params):
    assert_problem(c.get("/v1/conflicts", params=params), 400, "invalid_request")


# -- any JSON value: stored exactly as sent, or refused ------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.text(max_size=8)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12)


def _exact(value: Any) -> str:
    """A spelling that tells 2**70 from 1.1805916207174113e21 (they compare equal)."""
    return json.dumps(value, sort_keys=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.text(max_size=4), _json_values, max_size=4))
def test_a_put_is_stored_exactly_as_sent_or_refused(c, space, data):
    # stdlib json writes integers of any size exactly, as a client library may
    client_id = f"exact-{uuid.uuid4().hex[:8]}"
    record_id = f"x{next(_ids)}"
    r = _post(c, _raw_batch(client_id, _raw_mutation(client_id, space, record_id, "put",
                                                     json.dumps(data).encode(), 0)))
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    big = [n for n in _integers(data) if not -(2**63) <= n <= 2**64 - 1]
    if big:
        assert result["status"] == "rejected" and "string" in result["message"], result
        return
    assert result["status"] == "applied", result
    response = c.get("/v1/changes", params={"space": space})
    [change] = [ch for ch in json.loads(response.content)["changes"] if ch["id"] == record_id]
    assert _exact(change["data"]) == _exact(data)


def _integers(value: Any) -> Iterator[int]:
    if type(value) is int:
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _integers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _integers(item)


# -- custom resolvers that misbehave --------------------------------------------------------

RESOLVERS = ",".join(f"{name}=tests.core.hostile_resolvers:{name}" for name in (
    "returns_a_set", "returns_an_object", "returns_a_set_inside", "returns_a_huge_integer",
    "returns_a_treacherous_dict"))
RESOLVER_CASES = {
    "returns_a_set": "resolver_failed",
    "returns_an_object": "resolver_failed",
    "returns_a_set_inside": "resolver_failed",
    "returns_a_huge_integer": "resolver_failed",
    "returns_a_treacherous_dict": "internal_error",
}


@pytest.fixture(scope="module")
def resolver_server(tmp_path_factory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("hostile-resolvers") / "sync.db",
                           env={"SYNCSERVER_RESOLVERS": RESOLVERS,
                                "SYNCSERVER_POLICIES": "by_hand=manual",
                                "SYNCSERVER_MAX_DEPTH": "4"}).start()
    yield server
    server.stop()


@pytest.mark.parametrize("collection, code", RESOLVER_CASES.items(), ids=RESOLVER_CASES.keys())
def test_a_resolver_failure_rejects_its_mutation_only(resolver_server, space, collection, code):
    with httpx.Client(base_url=resolver_server.url, timeout=60) as rc:
        owner = f"owner-{uuid.uuid4().hex[:8]}"
        first = _raw_mutation(owner, space, "r", "put", b'{"title":"t0"}', 0, collection)
        second = _raw_mutation(owner, space, "r", "patch", b'{"title":"t1"}', 1, collection)
        r = _post(rc, _raw_batch(owner, first, second))
        assert [x["status"] for x in r.json()["results"]] == ["applied", "applied"], r.text

        stale = f"stale-{uuid.uuid4().hex[:8]}"
        before = data_snapshot(resolver_server.db)
        r = _post(rc, _raw_batch(
            stale, _raw_mutation(stale, space, "r", "patch", b'{"title":"mine"}', 1, collection),
            _raw_mutation(stale, space, "other", "put", b'{"k":1}', 0, collection)))
        assert r.status_code == 200, r.text
        result, neighbour = r.json()["results"]
        assert result["status"] == "rejected" and result["code"] == code, result
        assert neighbour["status"] == "applied", neighbour
        after = data_snapshot(resolver_server.db)
        assert [row for row in after["records"] if row[2] == "r"] == \
            [row for row in before["records"] if row[2] == "r"]  # the record is untouched
        if code == "internal_error":
            error_id = result["error_id"]
            assert error_id in result["message"]
            log = resolver_server.log.read_text()
            assert error_id in log and "treacherous resolver result" in log

        innocent = f"innocent-{uuid.uuid4().hex[:8]}"
        r = _post(rc, _raw_batch(
            innocent,
            _raw_mutation(innocent, space, "r", "patch", b'{"done":true}', 2, collection),
            _raw_mutation(innocent, space, "third", "put", b'{"k":3}', 0, collection)))
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["applied", "applied"], r.text
        state, _cursor = pull_all(rc, space)
        assert state[(collection, "r")]["data"] == {"title": "t1", "done": True}


def test_a_big_integer_pushed_over_the_websocket_is_refused_not_rounded(shared_server, space):
    from websockets.sync.client import connect

    client_id = f"ws-{uuid.uuid4().hex[:8]}"
    frame = b'{"type":"push","request_id":"p1",' + _raw_batch(
        client_id,
        _raw_mutation(client_id, space, "big", "put", b'{"n":%d}' % 2**70, 0),
        _raw_mutation(client_id, space, "fine", "put", b'{"n":%d}' % (2**64 - 1), 0))[1:]
    with connect(shared_server.ws_url, open_timeout=10) as ws:
        ws.send(frame.decode())
        answer = orjson.loads(ws.recv(timeout=10))
    assert answer["type"] == "push_result", answer
    big, fine = answer["results"]
    assert big["status"] == "rejected" and big["code"] == "invalid_mutation", big
    assert "string" in big["message"]
    assert fine["status"] == "applied", fine
    with httpx.Client(base_url=shared_server.url, timeout=30) as c:
        state, _cursor = pull_all(c, space)
    assert ("notes", "big") not in state
    assert state[("notes", "fine")]["data"] == {"n": 2**64 - 1}


def test_a_big_integer_in_a_conflict_resolution_is_refused_and_the_conflict_stays_open(
        resolver_server, space):
    with httpx.Client(base_url=resolver_server.url, timeout=60) as rc:
        owner = f"owner-{uuid.uuid4().hex[:8]}"
        r = _post(rc, _raw_batch(
            owner, _raw_mutation(owner, space, "r", "put", b'{"title":"t0"}', 0, "by_hand"),
            _raw_mutation(owner, space, "r", "patch", b'{"title":"t1"}', 1, "by_hand")))
        assert r.status_code == 200, r.text
        stale = f"stale-{uuid.uuid4().hex[:8]}"
        r = _post(rc, _raw_batch(
            stale, _raw_mutation(stale, space, "r", "patch", b'{"title":"t2"}', 1, "by_hand")))
        [result] = r.json()["results"]
        assert result["code"] == "conflict_open", result
        before = data_snapshot(resolver_server.db)
        r = rc.post(f"/v1/conflicts/{result['conflict_id']}/resolve",
                    content=b'{"data":{"n":%d}}' % 2**70,
                    headers={"content-type": "application/json"})
        body = assert_problem(r, 400, "invalid_request")
        assert "string" in body["detail"]
        assert data_snapshot(resolver_server.db) == before
        r = rc.post(f"/v1/conflicts/{result['conflict_id']}/resolve", json={"accept": "server"})
        assert r.status_code == 200 and r.json()["status"] == "resolved", r.text


FIELD_NUMBERS = {  # a field of a mutation spelled as raw JSON: rejected alone
    "mid_2_70": (b'"mid":%d' % 2**70, "invalid_mutation"),
    "mid_1e300": (b'"mid":1e300', "invalid_mutation"),
    "base_version_2_70": (b'"base_version":%d' % 2**70, "invalid_mutation"),
    "base_version_minus_2_70": (b'"base_version":%d' % -(2**70), "invalid_mutation"),
    "base_version_2_64": (b'"base_version":%d' % 2**64, "invalid_mutation"),
    "base_version_deep": (b'"base_version":' + b"[" * 1020 + b"]" * 1020, "invalid_mutation"),
    "hlc_deep": (b'"hlc":' + b"[" * 1020 + b"]" * 1020, "invalid_hlc"),
    "id_deep": (b'"id":' + b"[" * 1020 + b"]" * 1020, "invalid_mutation"),
}


@pytest.mark.parametrize("field, code", FIELD_NUMBERS.values(), ids=FIELD_NUMBERS.keys())
def test_a_hostile_field_rejects_its_mutation_only(c, space, field, code):
    client_id = f"fields-{uuid.uuid4().hex[:8]}"
    good = _raw_mutation(client_id, space, "fine", "put", b'{"k":1}', 0)
    name = field.split(b":", 1)[0]
    bad = orjson.loads(_raw_mutation(client_id, space, "bad", "put", b'{"k":2}', 0))
    if name == b'"mid"':  # a mutation without a usable mid is answered with mid null
        bad.pop("mid")
    else:
        bad["mid"] = 1000
        bad.pop(name.strip(b'"').decode())
    raw = orjson.dumps(bad)[:-1] + b"," + field + b"}"
    r = _post(c, _raw_batch(client_id, raw, good))
    assert r.status_code == 200, r.text
    rejected, applied = r.json()["results"]
    assert rejected["status"] == "rejected" and rejected["code"] == code, rejected
    assert applied["status"] == "applied", applied


@pytest.mark.parametrize("body", [
    b'{"client_id":%d,"mutations":[]}' % 2**70,
    b'{"client_id":"c","mutations":%d}' % 2**70,
    b'%d' % 2**70,
    b'{"client_id":"c","mutations":[],"protocol":%d}' % 2**70,
], ids=["client_id", "mutations", "whole_body", "protocol"])
def test_a_big_integer_in_the_body_is_a_400_not_a_500(c, shared_server, body):
    before = data_snapshot(shared_server.db)
    r = _post(c, body)
    assert r.status_code == 400 or (r.status_code == 200 and r.json()["results"] == []), r.text
    assert data_snapshot(shared_server.db) == before


def test_the_depth_limit_is_the_setting_for_pushes_and_resolutions(resolver_server, space):
    # SYNCSERVER_MAX_DEPTH=4 on this server
    four, five = b'{"a":{"b":{"c":[1]}}}', b'{"a":{"b":{"c":[[1]]}}}'
    with httpx.Client(base_url=resolver_server.url, timeout=60) as rc:
        client_id = f"depth-{uuid.uuid4().hex[:8]}"
        r = _post(rc, _raw_batch(
            client_id, _raw_mutation(client_id, space, "four", "put", four, 0, "by_hand"),
            _raw_mutation(client_id, space, "five", "put", five, 0, "by_hand"),
            _raw_mutation(client_id, space, "four", "patch", five, 1, "by_hand")))
        assert r.status_code == 200, r.text
        ok, deep_put, deep_patch = r.json()["results"]
        assert ok["status"] == "applied", ok
        for deep in (deep_put, deep_patch):
            assert deep["status"] == "rejected" and deep["code"] == "invalid_mutation", deep
            assert "4 levels" in deep["message"] and "SYNCSERVER_MAX_DEPTH" in deep["message"]

        other = f"stale-{uuid.uuid4().hex[:8]}"
        r = _post(rc, _raw_batch(other, _raw_mutation(other, space, "four", "patch",
                                                        b'{"t":1}', 0, "by_hand")))
        [result] = r.json()["results"]
        assert result["code"] == "conflict_open", result
        r = rc.post(f"/v1/conflicts/{result['conflict_id']}/resolve",
                    content=b'{"data":' + five + b"}",
                    headers={"content-type": "application/json"})
        assert "SYNCSERVER_MAX_DEPTH" in assert_problem(r, 400, "invalid_request")["detail"]
