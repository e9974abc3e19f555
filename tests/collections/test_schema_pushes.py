"""Hypothesis-generated records pushed to a real server with a collections file, on SQLite
and PostgreSQL: a record that matches its collection's schema is applied; a near miss (one
field wrong) is rejected `schema_invalid` with the pointer of that field, as a put and as
a patch of a stored record, and nothing is stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.collections.schema import RecordSchema
from syncserver.model.mutations import merge_patch
from tests.server import ServerProcess

from .support import Writer, applied, declared_fixture, rejected

TODO = {"type": "object", "required": ["title"], "additionalProperties": False,
        "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 40},
                       "done": {"type": "boolean"},
                       "priority": {"type": "integer", "minimum": 0, "maximum": 5},
                       "tags": {"type": "array", "maxItems": 4, "uniqueItems": True,
                                "items": {"type": "string", "maxLength": 10}}}}
CONTACT = {"type": "object", "required": ["name", "address"],
           "properties": {"name": {"type": "string"},
                          "address": {"type": "object", "required": ["city"],
                                      "properties": {"city": {"type": "string"},
                                                     "zip": {"type": "string",
                                                             "pattern": "^[0-9]{5}$"}}},
                          "score": {"$ref": "#/$defs/score"}},
           "$defs": {"score": {"type": "integer", "multipleOf": 5}}}
# Any key: the pointers of keys holding "/", "~" or nothing at all (RFC 6901 escapes).
COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
          "propertyNames": {"maxLength": 12}}
FILE = {"collections": {"todos": {"schema": TODO}, "contacts": {"schema": CONTACT},
                        "counts": {"schema": COUNTS}}}


server = declared_fixture(FILE)


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


text = st.text(max_size=12)
ints = st.integers(-(2**63), 2**63 - 1)  # what a push may carry: beyond, invalid_mutation
not_string = st.one_of(ints, st.booleans(), st.lists(ints, max_size=2),
                       st.floats(allow_nan=False, allow_infinity=False))
not_integer = st.one_of(st.text(), st.booleans(),
                        st.floats(allow_nan=False, allow_infinity=False).filter(
                            lambda x: not x.is_integer()))

todos = st.fixed_dictionaries(
    {"title": st.text(min_size=1, max_size=40)},
    optional={"done": st.booleans(), "priority": st.integers(0, 5),
              "tags": st.lists(st.text(max_size=10), max_size=4, unique=True)})


@st.composite
def todo_misses(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A merge patch that makes one field of a todo wrong, and the pointer of that field."""
    kind = draw(st.sampled_from(["type", "short", "long", "priority", "done", "tags-long",
                                 "tag", "missing", "extra"]))
    if kind == "type":
        return {"title": draw(not_string)}, "/title"
    if kind == "short":
        return {"title": ""}, "/title"
    if kind == "long":
        return {"title": draw(st.text(min_size=41, max_size=60))}, "/title"
    if kind == "priority":
        return {"priority": draw(st.one_of(not_integer, st.integers(-(2**63), -1),
                                           st.integers(6, 2**63 - 1)))}, "/priority"
    if kind == "done":
        return {"done": draw(st.one_of(st.text(), ints))}, "/done"
    if kind == "tags-long":
        return {"tags": draw(st.lists(st.text(max_size=10), min_size=5, max_size=8,
                                      unique=True))}, "/tags"
    if kind == "tag":
        tags = draw(st.lists(st.text(max_size=10), max_size=3, unique=True))
        at = draw(st.integers(0, len(tags)))
        tags.insert(at, draw(ints))
        return {"tags": tags}, f"/tags/{at}"
    if kind == "missing":
        return {"title": None}, ""  # a merge patch's null removes the field
    extra = draw(st.text(max_size=12).filter(lambda k: k not in TODO["properties"]))
    return {extra: draw(ints)}, ""  # additionalProperties: false


contacts = st.fixed_dictionaries(
    {"name": text, "address": st.fixed_dictionaries(
        {"city": text}, optional={"zip": st.from_regex(r"\A[0-9]{5}\Z")})},
    optional={"score": st.integers(-1000, 1000).map(lambda n: n * 5), "note": text})


@st.composite
def contact_misses(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    kind = draw(st.sampled_from(["name", "no-name", "address", "no-city", "city", "zip",
                                 "score"]))
    if kind == "name":
        return {"name": draw(not_string)}, "/name"
    if kind == "no-name":
        return {"name": None}, ""
    if kind == "address":
        return {"address": draw(st.one_of(text, ints))}, "/address"
    if kind == "no-city":
        return {"address": {"city": None}}, "/address"
    if kind == "city":
        return {"address": {"city": draw(not_string)}}, "/address/city"
    if kind == "zip":
        return {"address": {"zip": draw(st.from_regex(r"\A[0-9]{4}\Z") | ints)}}, \
            "/address/zip"
    score = draw(st.integers(-1000, 1000)) * 5 + draw(st.integers(1, 4))
    return {"score": score}, "/score"  # through a $ref to #/$defs/score


keys = st.one_of(st.text(max_size=12), st.sampled_from(["", "a/b", "~", "~1", "/", "0"]))
counts = st.dictionaries(keys, st.integers(0, 2**40), max_size=6)


@st.composite
def count_misses(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    key = draw(keys)
    if draw(st.booleans()):
        pointer = "/" + key.replace("~", "~0").replace("/", "~1")  # RFC 6901
        return {key: draw(st.one_of(st.integers(-(2**63), -1), st.text()))}, pointer
    return {draw(st.text(min_size=13, max_size=20)): 1}, ""  # propertyNames: the object's


CASES = {"todos": (todos, todo_misses()), "contacts": (contacts, contact_misses()),
         "counts": (counts, count_misses())}


def _check(http: httpx.Client, collection: str, valid: dict[str, Any],
           miss: tuple[dict[str, Any], str]) -> None:
    patch, pointer = miss
    near = merge_patch(valid, patch)
    writer = Writer(http, "c-" + uuid.uuid4().hex[:10], "s-" + uuid.uuid4().hex[:10])
    first = writer.push(writer.mutation("kept", data=valid, collection=collection))
    applied(first[0])
    before = writer.records()
    results = writer.push(writer.mutation("new", data=near, collection=collection),
                          writer.mutation("kept", "patch", patch, 1, collection))
    for result in results:
        message = rejected(result, "schema_invalid", pointer)
        assert f"schema of collection {collection}" in message
        assert "fix the record's data, or the collection's schema" in message
    assert writer.records() == before  # nothing of either was stored
    assert before["kept"]["data"] == valid


@pytest.mark.parametrize("collection", sorted(CASES))
def test_records_that_match_are_applied_and_near_misses_are_refused_at_their_pointer(
        http: httpx.Client, collection: str) -> None:
    documents, misses = CASES[collection]

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(valid=documents, miss=misses)
    def check(valid: dict[str, Any], miss: tuple[dict[str, Any], str]) -> None:
        _check(http, collection, valid, miss)

    check()


TREE = {"$ref": "#/$defs/node",
        "$defs": {"node": {"type": ["object", "integer"],
                           "additionalProperties": {"$ref": "#/$defs/node"}}}}


@given(path=st.lists(keys, min_size=1, max_size=4),
       siblings=st.dictionaries(keys, ints, max_size=3))
@settings(max_examples=200, deadline=None)
def test_a_pointer_leads_to_the_refused_value_whatever_the_keys(
        path: list[str], siblings: dict[str, int]) -> None:
    """Followed as RFC 6901 says, the pointer reaches the value the schema refused: keys
    with "/" or "~" are escaped, and an empty key is a segment (jsonschema-rs leaves empty
    keys out of its paths: schema.located puts them back)."""
    data: Any = "bad"
    for key in reversed(path):
        data = {**siblings, key: data}
    problem = RecordSchema(TREE).problem(data)
    assert problem is not None
    assert _follow(data, problem.pointer) == "bad", (data, problem)


def _follow(data: Any, pointer: str) -> Any:
    assert pointer.startswith("/")
    for part in pointer.split("/")[1:]:
        data = data[part.replace("~1", "/").replace("~0", "~")]
    return data
