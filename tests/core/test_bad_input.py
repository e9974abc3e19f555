"""Guarantee 9 over HTTP: bad input gets its 4xx problem document, never a 500, and never
changes stored data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import assert_problem, mutation, push

from .support import data_snapshot, snapshot

SPACE = "bad"


@pytest.fixture(scope="module")
def c(limited_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        push(client, "seed", [mutation(1, "a", space=SPACE), mutation(2, "b", space=SPACE),
                              mutation(3, "a", op="delete", base=1, space=SPACE),
                              mutation(4, "x", space="other")])
        yield client


@pytest.fixture(scope="module")
def cursors(c) -> dict[str, str]:
    mine = c.get("/v1/changes", params={"space": SPACE}).json()["cursor"]
    other = c.get("/v1/changes", params={"space": "other"}).json()["cursor"]
    seq, tag = mine.split(".", 1)
    return {"real": mine, "forged": f"{int(seq) - 1}.{tag}", "other_space": other,
            "tag_changed": f"{seq}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}"}


def _m(**change: Any) -> dict:
    return {**mutation(99, "new", space=SPACE), **change}


def _without(name: str) -> dict:
    m = mutation(99, "new", space=SPACE)
    del m[name]
    return m


def _body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _batch(*mutations: dict, client_id: str = "c-bad") -> bytes:
    return _body({"client_id": client_id, "mutations": list(mutations)})


BATCH_ERRORS: dict[str, tuple[bytes, int, str]] = {
    "malformed_json": (b'{"client_id": "c", "mutations": [', 400, "malformed_json"),
    "empty_body": (b"", 400, "malformed_json"),
    "invalid_utf8": (b'{"client_id": "\xff\xfe", "mutations": []}', 400, "malformed_json"),
    "lone_surrogate": (b'{"client_id": "\\ud800", "mutations": []}', 400, "malformed_json"),
    "nested_too_deep": (b"[" * 5000 + b"]" * 5000, 400, "malformed_json"),
    "trailing_garbage": (b'{"client_id": "c", "mutations": []} x', 400, "malformed_json"),
    "body_is_a_list": (b'[{"client_id": "c", "mutations": []}]', 400, "invalid_request"),
    "body_is_a_string": (b'"push"', 400, "invalid_request"),
    "body_is_null": (b"null", 400, "invalid_request"),
    "missing_client_id": (_body({"mutations": [_m()]}), 400, "invalid_request"),
    "client_id_a_number": (_body({"client_id": 7, "mutations": [_m()]}), 400,
                           "invalid_request"),
    "client_id_bad_chars": (_batch(_m(), client_id="a b/c"), 400, "invalid_request"),
    "client_id_too_long": (_batch(_m(), client_id="c" * 129), 400, "invalid_request"),
    "mutations_missing": (_body({"client_id": "c"}), 400, "invalid_request"),
    "mutations_an_object": (_body({"client_id": "c", "mutations": {"0": _m()}}), 400,
                            "invalid_request"),
    "mutations_a_string": (_body({"client_id": "c", "mutations": "[]"}), 400,
                           "invalid_request"),
    "too_many_mutations": (_batch(*[mutation(i, f"n{i}", space=SPACE) for i in range(1, 12)]),
                           413, "batch_too_large"),
    "too_many_bytes": (_batch(*[_m(mid=i, id=f"n{i}", data={"pad": "x" * 900})
                                for i in range(1, 10)] + [_m(data={"pad": "y" * 20000})]),
                       413, "batch_too_large"),
}


@pytest.mark.parametrize("body, status, code", BATCH_ERRORS.values(), ids=BATCH_ERRORS.keys())
def test_bad_push_body_gets_a_problem_and_stores_nothing(c, limited_server, body, status,
                                                         code):
    before = snapshot(limited_server.db)
    r = c.post("/v1/push", content=body, headers={"content-type": "application/json"})
    assert_problem(r, status, code)
    assert snapshot(limited_server.db) == before


def test_oversized_body_without_content_length_is_refused(c, limited_server):
    before = snapshot(limited_server.db)

    def chunks() -> Iterator[bytes]:  # chunked transfer: the size is only known by reading
        yield b'{"client_id": "c", "mutations": ['
        for i in range(1, 40):
            yield _body(_m(mid=i, id=f"n{i}", data={"pad": "x" * 900})) + b","
        yield b"{}]}"

    r = c.post("/v1/push", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413, "batch_too_large")
    assert snapshot(limited_server.db) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_push_with_wrong_content_type_gets_415(c, limited_server, content_type):
    before = snapshot(limited_server.db)
    r = c.post("/v1/push", content=_batch(_m()), headers={"content-type": content_type})
    assert_problem(r, 415, "unsupported_media_type")
    assert snapshot(limited_server.db) == before


MUTATION_ERRORS: dict[str, Any] = {
    "mid_a_string": (_m(mid="99"), "invalid_mutation"),
    "mid_zero": (_m(mid=0), "invalid_mutation"),
    "mid_negative": (_m(mid=-5), "invalid_mutation"),
    "mid_a_bool": (_m(mid=True), "invalid_mutation"),
    "mid_a_float": (_m(mid=99.0), "invalid_mutation"),
    "mid_beyond_64_bits": (_m(mid=2**63), "invalid_mutation"),
    "base_version_beyond_64_bits": (_m(base_version=2**63), "invalid_mutation"),
    "base_version_negative": (_m(base_version=-1), "invalid_mutation"),
    "base_version_a_bool": (_m(base_version=False), "invalid_mutation"),
    "base_version_a_string": (_m(base_version="0"), "invalid_mutation"),
    "base_version_a_float": (_m(base_version=0.0), "invalid_mutation"),
    "data_a_list": (_m(data=[1, 2]), "invalid_mutation"),
    "data_a_string": (_m(op="patch", data="x"), "invalid_mutation"),
    "put_without_data": (_without("data"), "invalid_mutation"),
    "delete_with_data": (_m(op="delete", data={"a": 1}), "invalid_mutation"),
    "missing_space": (_without("space"), "invalid_mutation"),
    "missing_collection": (_without("collection"), "invalid_mutation"),
    "missing_id": (_without("id"), "invalid_mutation"),
    "missing_base_version": (_without("base_version"), "invalid_mutation"),
    "missing_op": (_without("op"), "unknown_op"),
    "missing_hlc": (_without("hlc"), "invalid_hlc"),
    "bad_space_name": (_m(space="a b"), "invalid_mutation"),
    "space_a_list": (_m(space=["s"]), "invalid_mutation"),
    "collection_an_object": (_m(collection={"a": 1}), "invalid_mutation"),
    "id_a_list": (_m(id=["x"]), "invalid_mutation"),
    "op_a_list": (_m(op=["put"]), "unknown_op"),
    "id_too_long": (_m(id="i" * 129), "invalid_mutation"),
    "id_with_a_trailing_newline": (_m(id="abc\n"), "invalid_mutation"),
    "space_with_a_trailing_newline": (_m(space="s\n"), "invalid_mutation"),
    "hlc_with_non_ascii_digits": (_m(hlc="١٧٠٠٠٠٠٠٠٠٠٠٠:00000:c1"), "invalid_hlc"),
    "hlc_node_with_a_trailing_newline": (_m(hlc="1700000000000:00000:c1\n"), "invalid_hlc"),
    "unknown_op": (_m(op="upsert"), "unknown_op"),
    "op_a_number": (_m(op=1), "unknown_op"),
    "hlc_malformed": (_m(hlc="1700000000000:0:c1"), "invalid_hlc"),
    "hlc_a_number": (_m(hlc=1700000000000), "invalid_hlc"),
    "record_too_large": (_m(data={"pad": "x" * 1000}), "record_too_large"),
    "not_an_object": ([1, 2], "invalid_mutation"),
}


@pytest.mark.parametrize("bad, code", MUTATION_ERRORS.values(), ids=MUTATION_ERRORS.keys())
def test_bad_mutation_is_rejected_and_changes_no_data(c, limited_server, bad, code):
    before = data_snapshot(limited_server.db)
    client_id = f"c-{abs(hash(repr(bad))) % 10**8}"
    r = c.post("/v1/push", content=_batch(bad, client_id=client_id),
               headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert result["status"] == "rejected" and result["code"] == code, result
    assert result["message"]
    assert data_snapshot(limited_server.db) == before


@pytest.mark.parametrize("growth", [
    {"op": "patch", "data": {"more": "y" * 600}},
    {"op": "patch", "data": {"tags": {"$add": ["t" * 600]}}},
], ids=["merge_patch", "set_add"])
def test_a_write_growing_a_record_past_the_limit_is_rejected_and_the_rest_applied(
        c, limited_server, growth):
    # The limit (SYNCSERVER_MAX_RECORD_BYTES = 1000 here) bounds the record, not only the
    # mutation: each of these is small, the record after it would not be.
    record_id = f"grow-{growth['op']}-{len(orjson.dumps(growth))}"
    put = mutation(1, record_id, data={"pad": "x" * 600}, space=SPACE)
    client_id = f"c-{record_id}"
    assert push(c, client_id, [put])["results"][0]["status"] == "applied"
    before = _rows_of(limited_server.db, record_id)
    grow = {**mutation(2, record_id, space=SPACE), **growth, "base_version": 1}
    after = mutation(3, f"{record_id}-next", space=SPACE)
    results = push(c, client_id, [grow, after])["results"]
    assert results[0]["status"] == "rejected", results[0]
    assert results[0]["code"] == "record_too_large"
    assert "SYNCSERVER_MAX_RECORD_BYTES" in results[0]["message"]
    assert results[1]["status"] == "applied"
    assert _rows_of(limited_server.db, record_id) == before  # the record is as it was


@pytest.mark.parametrize("start, step", [
    (2**63 - 1, 1), (2**64 - 1, 1), (-(2**63), -1), (-1e308, -1e308)],
    ids=["int_over", "int_past_64_bits", "int_under", "float_to_infinity"])
def test_a_counter_pushed_out_of_range_is_rejected_and_the_rest_applied(c, limited_server,
                                                                          start, step):
    # Counters stay 64-bit signed integers or finite floats. Past 2**64 orjson refuses the
    # integer (the push was a 500, which a service worker retries forever); infinity it
    # writes as null (the counter was silently lost).
    record_id = f"count-{abs(hash((start, step))) % 10**8}"
    client_id = f"c-{record_id}"
    put = mutation(1, record_id, data={"n": start}, space=SPACE)
    assert push(c, client_id, [put])["results"][0]["status"] == "applied"
    before = _rows_of(limited_server.db, record_id)
    inc = mutation(2, record_id, op="patch", data={"n": {"$inc": step}}, base=1, space=SPACE)
    after = mutation(3, f"{record_id}-next", space=SPACE)
    results = push(c, client_id, [inc, after])["results"]
    assert results[0]["status"] == "rejected" and results[0]["code"] == "invalid_mutation"
    assert "$inc" in results[0]["message"]
    assert results[1]["status"] == "applied"
    assert _rows_of(limited_server.db, record_id) == before


def _rows_of(db, record_id: str) -> list[tuple]:
    return [row for row in data_snapshot(db)["records"] if row[2] == record_id]


CHANGES_ERRORS: dict[str, tuple[Callable[[dict], dict], int, str]] = {
    "cursor_garbage": (lambda k: {"since": "garbage"}, 400, "bad_cursor"),
    "cursor_no_tag": (lambda k: {"since": "1."}, 400, "bad_cursor"),
    "cursor_negative": (lambda k: {"since": "-1.abc"}, 400, "bad_cursor"),
    "cursor_superscript_digit": (lambda k: {"since": "\u00b2.abc"}, 400, "bad_cursor"),
    "cursor_too_long": (lambda k: {"since": "1." + "a" * 100}, 400, "bad_cursor"),
    "cursor_huge_seq": (lambda k: {"since": "9" * 30 + ".abc"}, 400, "bad_cursor"),
    "cursor_forged_digits": (lambda k: {"since": k["forged"]}, 400, "bad_cursor"),
    "cursor_tag_changed": (lambda k: {"since": k["tag_changed"]}, 400, "bad_cursor"),
    "cursor_of_another_space": (lambda k: {"since": k["other_space"]}, 400, "bad_cursor"),
    "limit_zero": (lambda k: {"limit": "0"}, 400, "invalid_request"),
    "limit_negative": (lambda k: {"limit": "-3"}, 400, "invalid_request"),
    "limit_not_a_number": (lambda k: {"limit": "ten"}, 400, "invalid_request"),
    "limit_a_fraction": (lambda k: {"limit": "1.5"}, 400, "invalid_request"),
    "limit_over_max_page": (lambda k: {"limit": "51"}, 400, "invalid_request"),
    "wait_negative": (lambda k: {"wait": "-1"}, 400, "invalid_request"),
    "wait_not_a_number": (lambda k: {"wait": "soon"}, 400, "invalid_request"),
    "wait_over_max_wait": (lambda k: {"wait": "6"}, 400, "invalid_request"),
    "wait_nan": (lambda k: {"wait": "nan"}, 400, "invalid_request"),
    "wait_infinite": (lambda k: {"wait": "inf"}, 400, "invalid_request"),
    "space_missing": (lambda k: {"space": None}, 400, "invalid_request"),
    "space_empty": (lambda k: {"space": ""}, 400, "invalid_request"),
    "space_bad_name": (lambda k: {"space": "a/b"}, 400, "invalid_request"),
    "space_too_long": (lambda k: {"space": "s" * 65}, 400, "invalid_request"),
    "collections_bad_name": (lambda k: {"collections": "todos,a b"}, 400, "invalid_request"),
    "collections_empty_name": (lambda k: {"collections": "todos,,notes"}, 400,
                               "invalid_request"),
}


@pytest.mark.parametrize("params, status, code", CHANGES_ERRORS.values(),
                         ids=CHANGES_ERRORS.keys())
def test_bad_changes_request_gets_a_problem(c, limited_server, cursors, params, status, code):
    before = snapshot(limited_server.db)
    query = {"space": SPACE, "since": cursors["real"], **params(cursors)}
    r = c.get("/v1/changes", params={k: v for k, v in query.items() if v is not None})
    assert_problem(r, status, code)
    assert snapshot(limited_server.db) == before


def test_real_cursor_of_the_table_is_accepted(c, cursors):
    r = c.get("/v1/changes", params={"space": SPACE, "since": cursors["real"], "limit": "50"})
    assert r.status_code == 200 and r.json()["changes"] == []


ROUTE_ERRORS = {
    "unknown_path": ("GET", "/v2/changes", 404, "not_found"),
    "unknown_path_post": ("POST", "/v1/pushes", 404, "not_found"),
    "push_with_get": ("GET", "/v1/push", 405, "method_not_allowed"),
    "push_with_put": ("PUT", "/v1/push", 405, "method_not_allowed"),
    "changes_with_post": ("POST", "/v1/changes", 405, "method_not_allowed"),
    "healthz_with_delete": ("DELETE", "/healthz", 405, "method_not_allowed"),
}


@pytest.mark.parametrize("method, path, status, code", ROUTE_ERRORS.values(),
                         ids=ROUTE_ERRORS.keys())
def test_unknown_route_or_method_gets_a_problem(c, limited_server, method, path, status,
                                                code):
    before = snapshot(limited_server.db)
    r = c.request(method, path, content=_batch(_m()),
                  headers={"content-type": "application/json"})
    assert_problem(r, status, code)
    assert snapshot(limited_server.db) == before


ALLOWED = {"/v1/push": "POST", "/v1/changes": "GET", "/v1/conflicts": "GET",
           "/v1/conflicts/1/resolve": "POST", "/healthz": "GET", "/v1/spaces": "GET",
           "/v1/pull": "POST"}


@pytest.mark.parametrize("path, allowed", ALLOWED.items(), ids=ALLOWED.keys())
def test_method_not_allowed_names_the_allowed_methods(c, path, allowed):
    # RFC 9110: a 405 carries Allow, so that a client can tell what the route takes
    method = "DELETE" if allowed == "GET" else "PUT"
    r = c.request(method, path)
    assert_problem(r, 405, "method_not_allowed")
    assert allowed in [m.strip() for m in r.headers.get("allow", "").split(",")]


@pytest.mark.parametrize("demo", [False, True], ids=["api only", "demo at /"])
def test_a_plain_get_of_the_websocket_path_is_426_and_other_methods_405(
        server_factory, demo: bool) -> None:
    server = server_factory(demo=demo)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        r = http.get("/v1/ws")
        assert_problem(r, 426, "upgrade_required")
        assert r.headers["upgrade"].lower() == "websocket"
        for method in ("POST", "PUT", "DELETE", "PATCH", "TRACE"):
            r = http.request(method, "/v1/ws")
            assert_problem(r, 405, "method_not_allowed")
            assert "GET" in [m.strip() for m in r.headers.get("allow", "").split(",")]
        # The same for the API's routes, whose path the demo's mount at / also covers.
        r = http.get("/v1/push")
        assert_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"
        assert_problem(http.get("/v1/nothing"), 404, "not_found")


def _pull(**fields: Any) -> bytes:
    return _body({"cursors": {SPACE: ""}, **fields})


PULL_ERRORS: dict[str, tuple[bytes, int, str]] = {
    "malformed_json": (b'{"cursors": {', 400, "malformed_json"),
    "empty_body": (b"", 400, "malformed_json"),
    "body_is_a_list": (b'[{"cursors": {}}]', 400, "invalid_request"),
    "body_is_null": (b"null", 400, "invalid_request"),
    "cursors_missing": (_body({"limit": 5}), 400, "invalid_request"),
    "cursors_a_list": (_body({"cursors": [SPACE]}), 400, "invalid_request"),
    "cursors_a_string": (_body({"cursors": SPACE}), 400, "invalid_request"),
    "cursors_null": (_body({"cursors": None}), 400, "invalid_request"),
    "cursor_a_number": (_body({"cursors": {SPACE: 5}}), 400, "invalid_request"),
    "cursor_an_object": (_body({"cursors": {SPACE: {"seq": 1}}}), 400, "invalid_request"),
    "cursor_a_list": (_body({"cursors": {SPACE: [""]}}), 400, "invalid_request"),
    "space_bad_name": (_body({"cursors": {"a/b": ""}}), 400, "invalid_request"),
    "space_empty": (_body({"cursors": {"": ""}}), 400, "invalid_request"),
    "space_too_long": (_body({"cursors": {"s" * 65: ""}}), 400, "invalid_request"),
    "space_trailing_newline": (_body({"cursors": {"s\n": ""}}), 400, "invalid_request"),
    "limit_zero": (_pull(limit=0), 400, "invalid_request"),
    "limit_negative": (_pull(limit=-1), 400, "invalid_request"),
    "limit_over_max_page": (_pull(limit=51), 400, "invalid_request"),
    "limit_a_string": (_pull(limit="10"), 400, "invalid_request"),
    "limit_a_fraction": (_pull(limit=1.5), 400, "invalid_request"),
    "limit_a_bool": (_pull(limit=True), 400, "invalid_request"),
    "limit_beyond_64_bits": (b'{"cursors": {}, "limit": 100000000000000000000000}', 400,
                             "invalid_request"),
    "collections_a_string": (_pull(collections="todos"), 400, "invalid_request"),
    "collections_bad_name": (_pull(collections=["todos", "a b"]), 400, "invalid_request"),
    "collections_a_number": (_pull(collections=[1]), 400, "invalid_request"),
    "collections_an_object": (_pull(collections={"todos": 1}), 400, "invalid_request"),
    "wait_given": (_pull(wait=5), 400, "invalid_request"),
    "too_many_spaces": (_body({"cursors": dict.fromkeys("abcd", "")}), 400,
                        "too_many_spaces"),
    "too_many_bytes": (_body({"cursors": {SPACE: "x" * 30_000}}), 413, "batch_too_large"),
}


@pytest.mark.parametrize("body, status, code", PULL_ERRORS.values(), ids=PULL_ERRORS.keys())
def test_bad_pull_body_gets_a_problem_and_changes_nothing(c, limited_server, body, status,
                                                          code):
    before = snapshot(limited_server.db)
    r = c.post("/v1/pull", content=body, headers={"content-type": "application/json"})
    assert_problem(r, status, code)
    assert snapshot(limited_server.db) == before


def test_pull_with_wrong_content_type_gets_415(c, limited_server):
    before = snapshot(limited_server.db)
    r = c.post("/v1/pull", content=_pull(), headers={"content-type": "text/plain"})
    assert_problem(r, 415, "unsupported_media_type")
    assert snapshot(limited_server.db) == before


def test_pull_at_its_limits_is_answered(c, cursors):
    # Three spaces (SYNCSERVER_MAX_PULL_SPACES here), limit 50 (SYNCSERVER_MAX_PAGE), null
    # and empty optional fields, a cursor that is no cursor: a 200, with that space's error.
    r = c.post("/v1/pull", json={"cursors": {SPACE: cursors["real"], "other": "garbage",
                                             "x": None}, "limit": 50, "collections": None})
    assert r.status_code == 200, r.text
    spaces = r.json()["spaces"]
    assert spaces[SPACE]["changes"] == [] and spaces["other"]["error"]["code"] == "bad_cursor"
    r = c.post("/v1/pull", json={"cursors": {}, "limit": None, "collections": []})
    assert r.status_code == 200 and r.json() == {"spaces": {}, "more": False}
    # A whole number written 2.0 is the integer 2, as the OpenAPI document's schema says.
    r = c.post("/v1/pull", content=b'{"cursors": {}, "limit": 2.0}',
               headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
