"""Clients of older app versions, and collections the file does not declare, on a real
server (SQLite and PostgreSQL): an old app's writes are upgraded before they are merged and
validated (the stored record has the current shape), writes below min_app_version are
refused `upgrade_required`, an upgrade that fails refuses its write `upgrade_failed`, a
write to an undeclared collection is refused `unknown_collection`; each refusal is the
mutation's stored result, which a replay gets again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.helpers import assert_problem
from tests.pg import BACKENDS
from tests.server import ServerProcess

from .support import Writer, applied, declared_fixture, declared_server, rejected

TODO = {"type": "object", "required": ["title"], "additionalProperties": False,
        "properties": {"title": {"type": "string"}, "done": {"type": "boolean"},
                       "likes": {"type": "integer"}}}
FILE = {
    "app_version": 3, "min_app_version": 1,
    "collections": {
        "todos": {"schema": TODO, "version": 3,
                  "upgrade": "tests.collections.upgrades:todos"},
        "notes": {"version": 2},  # no upgrade: old data goes as it is
        "fails": {"version": 3, "upgrade": "tests.collections.upgrades:fails"},
        "lists": {"version": 3, "upgrade": "tests.collections.upgrades:returns_a_list"},
        "sets": {"version": 3, "upgrade": "tests.collections.upgrades:returns_a_set"},
        "grows": {"version": 3, "upgrade": "tests.collections.upgrades:grows"},
    },
}
MIN_2 = {**FILE, "min_app_version": 2}


server = declared_fixture(FILE, args=("--max-record-bytes", "4096"))


def test_an_old_apps_put_is_stored_in_the_current_shape(writer: Writer) -> None:
    results = writer.push(
        writer.mutation("v1", data={"name": "milk", "done": "yes"}, app_version=1),
        writer.mutation("v2", data={"title": "bread", "likes": "3"}, app_version=2),
        writer.mutation("v3", data={"title": "eggs", "likes": 1}, app_version=3),
        writer.mutation("no", data={"title": "jam"}))  # no version stated: 1, upgraded
    for result in results:
        applied(result)
    records = writer.records()
    assert records["v1"]["data"] == {"title": "milk", "done": True}
    assert records["v2"]["data"] == {"title": "bread", "likes": 3}
    assert records["v3"]["data"] == {"title": "eggs", "likes": 1}
    assert records["no"]["data"] == {"title": "jam"}


def test_an_old_apps_patch_and_its_operations_are_upgraded(writer: Writer) -> None:
    applied(writer.one("r", data={"title": "milk", "likes": 1}, app_version=3))
    applied(writer.one("r", "patch", {"name": "oat milk", "likes": {"$inc": "2"}}, 1,
                       app_version=1))
    assert writer.records()["r"]["data"] == {"title": "oat milk", "likes": 3}
    # An old write the upgrade cannot make valid is refused on the upgraded record.
    rejected(writer.one("r", "patch", {"colour": "red"}, 2, app_version=1),
             "schema_invalid", "")
    applied(writer.one("r", "delete", base=2, app_version=1))  # a delete has no data


def test_a_collection_without_an_upgrade_takes_old_data_as_it_is(writer: Writer) -> None:
    applied(writer.one("n", data={"anything": [1]}, collection="notes", app_version=1))
    assert writer.records()["n"]["data"] == {"anything": [1]}


def test_the_push_bodys_app_version_is_its_mutations_default(writer: Writer) -> None:
    results = writer.push(writer.mutation("a", data={"name": "old"}),
                          writer.mutation("b", data={"title": "new"}, app_version=3),
                          app_version=1)
    for result in results:
        applied(result)
    records = writer.records()
    assert records["a"]["data"] == {"title": "old"} and records["b"]["data"] == {"title": "new"}
    # ... and a current body's mutations are not upgraded: `name` is no field of a todo
    rejected(writer.push(writer.mutation("c", data={"name": "x"}), app_version=3)[0],
             "schema_invalid", "")


@pytest.mark.parametrize("collection, needles", [
    ("fails", ["tests.collections.upgrades:fails", "raised KeyError",
               "no rule for app version 1", "in the server log"]),
    ("lists", ["tests.collections.upgrades:returns_a_list", "returned list, not a dict"]),
    ("sets", ["returns_a_set", "JSON cannot carry faithfully", "a set"]),
])
def test_an_upgrade_that_fails_refuses_its_write_naming_it(
        writer: Writer, collection: str, needles: list[str]) -> None:
    result = writer.one("r", data={"title": "x"}, collection=collection, app_version=1)
    message = rejected(result, "upgrade_failed")
    for needle in needles:
        assert needle in message, message
    assert (collection == "fails") == ("error_id" in result)
    assert writer.records() == {}
    # the same write from a current app is not upgraded, and applies
    applied(writer.one("r", data={"title": "x"}, collection=collection, app_version=3))


def test_an_upgrade_that_grows_data_past_the_limit_is_record_too_large(
        writer: Writer) -> None:
    message = rejected(writer.one("r", data={"t": 1}, collection="grows", app_version=2),
                       "record_too_large")
    assert "after the upgrade tests.collections.upgrades:grows" in message
    assert writer.records() == {}


def test_a_write_to_an_undeclared_collection_is_refused(writer: Writer) -> None:
    for op, data in [("put", {"title": "x"}), ("patch", {"title": "x"}), ("delete", None)]:
        message = rejected(writer.one("r", op, data, collection="todo"),
                           "unknown_collection")
        assert "collection todo is not declared" in message
    assert writer.records() == {}


def test_a_refused_mid_replays_as_its_stored_refusal(writer: Writer) -> None:
    batch = [writer.mutation("a", data={"title": 1}),
             writer.mutation("b", data={"title": "x"}, collection="elsewhere"),
             writer.mutation("c", data={"title": "x"}, collection="fails", app_version=2),
             writer.mutation("d", data={"title": "x"})]
    first = writer.push(*batch)
    assert [r.get("code", r["status"]) for r in first] == [
        "schema_invalid", "unknown_collection", "upgrade_failed", "applied"]
    again = writer.push(*batch)
    assert again == [{**r, "duplicate": True} for r in first]
    assert list(writer.records()) == ["d"]


def test_app_version_joins_the_fingerprint_only_when_stated(writer: Writer) -> None:
    plain = writer.mutation("a", data={"title": "x"}, app_version=3)
    applied(writer.push(plain)[0])
    # the same version from the body: the same mutation
    same = {k: v for k, v in plain.items() if k != "app_version"}
    assert writer.push(same, app_version=3)[0]["duplicate"]
    # another version, or none: another mutation under a used mid
    rejected(writer.push({**plain, "app_version": 2})[0], "mutation_id_reused")
    rejected(writer.push(same)[0], "mutation_id_reused")


def test_a_bad_app_version_is_refused_where_it_is(writer: Writer) -> None:
    for bad in [0, -1, "3", 1.5, True, 2**31]:
        result = writer.one("r", data={"title": "x"}, app_version=bad)
        assert "app_version must be an integer from 1 to 2147483647" in rejected(
            result, "invalid_mutation")
        response = writer.http.post("/v1/push", json={
            "client_id": writer.client_id, "app_version": bad,
            "mutations": [writer.mutation("r", data={"title": "x"})]})
        body = assert_problem(response, 400, "invalid_request")
        assert body["field"] == "app_version"
    assert writer.records() == {}
    # null is a field left out (the OpenAPI document says so too): app version 1
    response = writer.http.post("/v1/push", json={
        "client_id": writer.client_id, "app_version": None,
        "mutations": [{**writer.mutation("n", data={"title": "x"}), "app_version": None}]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "applied"
    # 3.0 is an integer to JSON Schema (and the OpenAPI document): app version 3
    response = writer.http.post("/v1/push", json={
        "client_id": writer.client_id, "app_version": 3.0,
        "mutations": [{**writer.mutation("f", data={"title": "x"}), "app_version": 3.0}]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "applied"


def test_a_websocket_push_frame_takes_the_bodys_app_version(
        server: ServerProcess, writer: Writer) -> None:
    async def scenario() -> dict[str, Any]:
        async with connect(server.ws_url) as ws:
            await ws.send(orjson.dumps({
                "type": "push", "request_id": "r1", "client_id": writer.client_id,
                "app_version": 1,
                "mutations": [writer.mutation("w", data={"name": "old"})]}).decode())
            return orjson.loads(await asyncio.wait_for(ws.recv(), 30))  # type: ignore[no-any-return]

    answer = asyncio.run(scenario())
    assert answer["type"] == "push_result", answer
    applied(answer["results"][0])
    assert writer.records()["w"]["data"] == {"title": "old"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_of_apps_below_min_app_version_are_refused_until_reloaded(
        backend: str, tmp_path: Path) -> None:
    with declared_server(backend, tmp_path, MIN_2) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        writer = Writer(http, "c-old", "s-min")
        old = [writer.mutation("a", data={"name": "x"}, app_version=1),
               writer.mutation("b", data={"title": "x"}),  # none stated: version 1
               writer.mutation("c", "delete", collection="undeclared", app_version=1)]
        results = writer.push(*old)
        for result in results:
            assert "reload the app" in rejected(result, "upgrade_required")
        assert writer.push(*old) == [{**r, "duplicate": True} for r in results]
        applied(writer.one("a", data={"title": "x", "likes": "4"}, app_version=2))  # upgraded
        assert writer.records()["a"]["data"] == {"title": "x", "likes": 4}
