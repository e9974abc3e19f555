"""Every kind of write against typed fields, on a real server with a collections file (SQLite
and PostgreSQL): the record as it would be stored is what is validated, after a put, a merge
patch, each commutative operation; a tombstone is not. A refused write stores nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg import BACKENDS, backend_database
from tests.server import ServerProcess

from .support import Writer, applied, declared_fixture, rejected, write_file

ITEM = {"type": "object", "required": ["title"],
        "properties": {"title": {"type": "string", "maxLength": 20},
                       "likes": {"type": "integer", "minimum": 0},
                       "score": {"type": "number", "maximum": 100},
                       "tags": {"type": "array", "items": {"type": "string"},
                                "minItems": 1, "maxItems": 3},
                       "meta": {"type": "object",
                                "properties": {"color": {"enum": ["red", "blue"]}}}}}
FILE = {"collections": {"items": {"schema": ITEM}}}


server = declared_fixture(FILE)


def _stored(writer: Writer, *records: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Store records (put, version 1); the space's records after."""
    for record_id, data in records:
        applied(writer.one(record_id, data=data, collection="items"))
    return writer.records()


def _refused(writer: Writer, before: dict[str, Any], pointer: str, *args: Any,
             **kwargs: Any) -> str:
    message = rejected(writer.one(*args, collection="items", **kwargs), "schema_invalid",
                       pointer)
    assert writer.records() == before
    return message


def test_a_put_is_validated_new_or_replacing(writer: Writer) -> None:
    before = _stored(writer, ("a", {"title": "milk", "likes": 2}))
    _refused(writer, before, "/title", "b", data={"title": "x" * 21})  # a new record
    _refused(writer, before, "/likes", "a", data={"title": "milk", "likes": -1}, base=1)
    _refused(writer, before, "", "a", data={"likes": 3}, base=1)  # title is required
    applied(writer.one("a", data={"title": "bread", "tags": ["x"]}, base=1,
                       collection="items"))
    assert writer.records()["a"]["data"] == {"title": "bread", "tags": ["x"]}


def test_a_merge_patch_is_validated_as_the_record_it_makes(writer: Writer) -> None:
    before = _stored(writer, ("a", {"title": "milk", "meta": {"color": "red"}}))
    message = _refused(writer, before, "/meta/color", "a", "patch",
                       {"meta": {"color": "green"}}, 1)
    assert "green" in message
    _refused(writer, before, "", "a", "patch", {"title": None}, 1)  # removes a required field
    _refused(writer, before, "/score", "a", "patch", {"score": "high"}, 1)
    applied(writer.one("a", "patch", {"meta": {"color": "blue"}, "score": 99.5}, 1,
                       collection="items"))
    assert writer.records()["a"]["data"] == {"title": "milk", "meta": {"color": "blue"},
                                             "score": 99.5}


def test_inc_must_leave_a_number_the_schema_takes(writer: Writer) -> None:
    before = _stored(writer, ("a", {"title": "milk", "likes": 1}))
    _refused(writer, before, "/likes", "a", "patch", {"likes": {"$inc": -2}}, 1)  # minimum 0
    _refused(writer, before, "/likes", "a", "patch", {"likes": {"$inc": 0.5}}, 1)  # integer
    _refused(writer, before, "/score", "a", "patch", {"score": {"$inc": 101}}, 1)  # maximum
    # onto a string the operation itself is refused, before any schema
    result = writer.one("a", "patch", {"title": {"$inc": 1}}, 1, collection="items")
    rejected(result, "operation_type_mismatch")
    applied(writer.one("a", "patch", {"likes": {"$inc": 4}, "score": {"$inc": 2.5}}, 1,
                       collection="items"))
    assert writer.records()["a"]["data"] == {"title": "milk", "likes": 5, "score": 2.5}


def test_add_and_remove_must_leave_a_set_the_schema_takes(writer: Writer) -> None:
    before = _stored(writer, ("a", {"title": "milk", "tags": ["x"]}))
    # a set is kept sorted by JSON text: "x" (quoted) before 7
    _refused(writer, before, "/tags/1", "a", "patch", {"tags": {"$add": [7]}}, 1)
    _refused(writer, before, "/tags", "a", "patch", {"tags": {"$add": ["p", "q", "r"]}}, 1)
    _refused(writer, before, "/tags", "a", "patch", {"tags": {"$remove": ["x"]}}, 1)  # minItems
    _refused(writer, before, "/tags/0", "b", "patch", {"title": "new", "tags": {"$add": [1]}})
    applied(writer.one("a", "patch", {"tags": {"$add": ["y"]}}, 1, collection="items"))
    applied(writer.one("a", "patch", {"tags": {"$remove": ["x"]}}, 2, collection="items"))
    assert writer.records()["a"]["data"] == {"title": "milk", "tags": ["y"]}


def test_a_delete_leaves_a_tombstone_that_is_not_validated(writer: Writer) -> None:
    _stored(writer, ("a", {"title": "milk", "likes": 0}))
    applied(writer.one("a", "delete", base=1, collection="items"))
    # An operation changes a tombstone's kept data, never validated: the record is gone.
    applied(writer.one("a", "patch", {"likes": {"$inc": -3}}, 2, collection="items"))
    assert writer.records()["a"]["deleted"]
    # Brought back, the record is validated again: a patch of a tombstone starts from nothing
    before = writer.records()
    _refused(writer, before, "", "a", "patch", {"likes": 1}, 3)
    _refused(writer, before, "/title", "a", data={"title": 5}, base=3)
    applied(writer.one("a", "patch", {"title": "back"}, 3, collection="items"))
    assert writer.records()["a"]["data"] == {"title": "back"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_record_stored_before_its_schema_can_be_deleted_or_fixed(
        tmp_path: Path, backend: str) -> None:
    """A record that no longer validates (written before the file declared its schema)
    stays readable; a delete of it applies, a patch that leaves it invalid is refused and
    one that fixes it applies."""
    space = "s-" + uuid.uuid4().hex[:10]
    with backend_database(backend, tmp_path) as db:
        before = ServerProcess(db, log=tmp_path / "before.log").start()  # no file
        try:
            with httpx.Client(base_url=before.url, timeout=30) as http:
                old = Writer(http, "c-old", space)
                applied(old.one("a", data={"title": 1}, collection="items"))
                applied(old.one("b", data={"title": 2}, collection="items"))
        finally:
            before.stop()
        path = write_file(tmp_path, FILE)
        after = ServerProcess(db, args=("--collections", str(path)),
                              log=tmp_path / "after.log").start()
        try:
            with httpx.Client(base_url=after.url, timeout=30) as http:
                writer = Writer(http, "c-new", space)
                stored = writer.records()
                assert stored["a"]["data"] == {"title": 1}  # read as it is
                _refused(writer, stored, "/title", "a", "patch", {"likes": 1}, 1)
                applied(writer.one("a", "patch", {"title": "one"}, 1, collection="items"))
                applied(writer.one("b", "delete", base=1, collection="items"))
                records = writer.records()
                assert records["a"]["data"] == {"title": "one"} and records["b"]["deleted"]
        finally:
            after.stop()

