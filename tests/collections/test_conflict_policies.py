"""Stale writes settled by each conflict policy the collections file declares (merge, lww,
manual, a custom resolver), on SQLite and PostgreSQL: what is validated is the record the
policy would store, and a manual conflict's resolution is validated too (422)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem
from tests.server import ServerProcess

from .support import Writer, applied, declared_fixture, rejected

NOTE = {"type": "object", "required": ["title"],
        "properties": {"title": {"type": "string", "maxLength": 20}},
        "not": {"required": ["archived", "pinned"]}}  # either, never both
FILE = {"collections": {
    "notes": {"schema": NOTE, "policy": "merge"},
    "lww_notes": {"schema": NOTE, "policy": "lww"},
    "manual_notes": {"schema": NOTE, "policy": "manual"},
    "custom_notes": {"schema": NOTE, "resolver": "tests.collections.upgrades:title_case"},
    "broken_notes": {"schema": NOTE, "resolver": "tests.collections.upgrades:numbers_title"},
}}


server = declared_fixture(FILE)


@pytest.fixture
def pair(server: ServerProcess) -> Iterator[tuple[Writer, Writer]]:
    """Two clients of one space: `a` wrote a record that `b` changed since (version 2)."""
    space = "s-" + uuid.uuid4().hex[:10]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield (Writer(http, "a-" + space, space), Writer(http, "b-" + space, space))


def _concurrent(pair: tuple[Writer, Writer], collection: str) -> dict[str, Any]:
    a, b = pair
    applied(a.one("r", data={"title": "first"}, collection=collection))
    applied(b.one("r", "patch", {"archived": True}, 1, collection))
    return a.records()


def test_merge_validates_the_merged_record_not_each_side(pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    before = _concurrent(pair, "notes")
    # Valid alone, but merged with the other client's `archived` it has both: refused.
    result = a.one("r", "patch", {"pinned": True}, 1, collection="notes")
    rejected(result, "schema_invalid", "")
    assert a.records() == before
    merged = a.one("r", "patch", {"title": "second"}, 1, collection="notes")
    assert merged["status"] == "merged"
    assert a.records()["r"]["data"] == {"title": "second", "archived": True}


def test_lww_validates_the_winning_write_and_not_a_losing_one(
        pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    before = _concurrent(pair, "lww_notes")
    rejected(a.one("r", data={"title": 5}, base=1, collection="lww_notes"), "schema_invalid",
             "/title")
    assert a.records() == before
    # An older stamp loses: nothing of it would be stored, so nothing is validated.
    losing = a.mutation("r", data={"title": 5}, base=1, collection="lww_notes")
    losing["hlc"] = f"{int(time.time() * 1000) - 60_000:013d}:00000:{a.client_id}"
    (lost,) = a.push(losing)
    assert lost["status"] == "conflict" and lost["code"] == "stale_base_version", lost
    assert a.records() == before
    won = a.one("r", data={"title": "mine"}, base=1, collection="lww_notes")
    assert won["status"] == "merged"
    assert a.records()["r"]["data"] == {"title": "mine"}


def test_a_custom_resolvers_output_is_validated(pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    before = _concurrent(pair, "custom_notes")
    # 11 characters as sent; the resolver upper-cases them to 22 ("ß" -> "SS"): too long.
    rejected(a.one("r", "patch", {"title": "ß" * 11}, 1, collection="custom_notes"),
             "schema_invalid", "/title")
    assert a.records() == before
    assert a.one("r", "patch", {"title": "ok"}, 1, collection="custom_notes")["status"] == \
        "merged"
    assert a.records()["r"]["data"] == {"title": "OK"}


def test_a_resolver_that_breaks_the_schema_stores_nothing(
        pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    before = _concurrent(pair, "broken_notes")
    rejected(a.one("r", "patch", {"title": "fine"}, 1, collection="broken_notes"),
             "schema_invalid", "/title")
    assert a.records() == before


def _open_conflict(pair: tuple[Writer, Writer], data: dict[str, Any]) -> int:
    a, _ = pair
    _concurrent(pair, "manual_notes")
    result = a.one("r", "patch", data, 1, collection="manual_notes")
    assert result["status"] == "conflict" and result["code"] == "conflict_open", result
    return result["conflict_id"]  # type: ignore[no-any-return]


def _resolve(writer: Writer, conflict_id: int, body: dict[str, Any]) -> httpx.Response:
    return writer.http.post(f"/v1/conflicts/{conflict_id}/resolve", json=body)


def _still_open(writer: Writer, conflict_id: int) -> bool:
    listed = writer.http.get("/v1/conflicts", params={"space": writer.space,
                                                      "status": "open"}).json()
    return conflict_id in [c["id"] for c in listed["conflicts"]]


def test_a_manual_resolution_is_validated_and_the_conflict_stays_open(
        pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    # The stale write waits as it came (nothing of it stored, nothing validated yet) ...
    conflict_id = _open_conflict(pair, {"title": 5})
    before = a.records()
    # ... and taking it, or data that breaks the schema, is refused with the pointer.
    for body, pointer in [({"accept": "client"}, "/title"), ({"data": {"title": 7}}, "/title"),
                          ({"data": {"title": "x", "archived": True, "pinned": True}}, "")]:
        problem = assert_problem(_resolve(a, conflict_id, body), 422, "schema_invalid")
        assert problem["pointer"] == pointer, problem
        assert "fix the record's data" in problem["detail"]
        assert "conflict stays open" in problem["detail"]
    assert a.records() == before and _still_open(a, conflict_id)
    done = _resolve(a, conflict_id, {"data": {"title": "agreed"}})
    assert done.status_code == 200, done.text
    assert a.records()["r"]["data"] == {"title": "agreed"}
    assert not _still_open(a, conflict_id)


def test_a_manual_resolution_by_delete_or_by_the_valid_client_write(
        pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    conflict_id = _open_conflict(pair, {"title": "theirs"})
    done = _resolve(a, conflict_id, {"accept": "client"})
    assert done.status_code == 200, done.text
    assert a.records()["r"]["data"] == {"title": "theirs", "archived": True}
    applied(a.one("r", "patch", {"title": "again"}, 3, collection="manual_notes"))
    _, b = pair
    conflict_id = b.one("r", "patch", {"title": 5}, 2, collection="manual_notes")["conflict_id"]
    done = _resolve(a, conflict_id, {"delete": True})  # a tombstone: not validated
    assert done.status_code == 200, done.text
    assert a.records()["r"]["deleted"]
