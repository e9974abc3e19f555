"""A mutation's fingerprint is stored with its result (the mutation log) and compared on
every replay, for as long as the result is kept: its bytes must not change from one server
version to the next, or a replay after an upgrade would be refused as a reused mid.
parse_mutation builds it on its hot path without repr() for a mutation whose fields all
passed; these pin both ways to the format as stored before."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from syncserver.model.mutations import Mutation, Rejection, fingerprint, parse_mutation

# Fingerprints as the server computed them before the hot path changed (the repr() form).
PINNED: list[tuple[dict[str, Any], str]] = [
    ({"mid": 7, "space": "s0", "collection": "todos", "id": "r:1-a.b_c", "op": "put",
      "base_version": 0, "hlc": "1765000000000:00000:bench",
      "data": {"title": "caf\u00e9", "n": 1, "x": [1, 2.5, None]}},
     "7dfa1cfa051c32d6247e5d4dbc4b0158"),
    ({"mid": 8, "space": "S.p-a_c3", "collection": "c", "id": "r2", "op": "patch",
      "base_version": 12, "hlc": "1765000000000:00003:a:b", "data": {"done": True}},
     "1a3b44bc103d3db48989a906ab8a9091"),
    ({"mid": 9, "space": "s0", "collection": "todos", "id": "r3", "op": "delete",
      "base_version": 3, "hlc": "1765000000001:99999:bench", "data": None},
     "3155ce48f2dd28b7ac9eafc54651da8a"),
]


@pytest.mark.parametrize(("raw", "pinned"), PINNED)
def test_a_valid_mutation_keeps_its_stored_fingerprint(raw: dict[str, Any],
                                                        pinned: str) -> None:
    parsed = parse_mutation(raw, 1 << 20)
    assert isinstance(parsed, Mutation)
    assert parsed.fingerprint.hex() == pinned
    assert parsed.fingerprint == fingerprint(
        raw["space"], raw["collection"], raw["id"], raw["op"], raw["base_version"],
        raw["hlc"], parsed.data_json)


@pytest.mark.parametrize("change", [
    {"space": 5}, {"collection": None}, {"id": "a b"}, {"op": "upsert"},
    {"base_version": True}, {"base_version": -1}, {"hlc": "1765000000000:00000:"},
    {"hlc": ["x"]}, {"data": [1]},
])
def test_a_rejected_mutation_is_fingerprinted_from_what_it_holds(
        change: dict[str, Any]) -> None:
    raw = {**PINNED[0][0], **change}
    parsed = parse_mutation(raw, 1 << 20)
    assert isinstance(parsed, Rejection)
    assert parsed.fingerprint == fingerprint(
        raw["space"], raw["collection"], raw["id"], raw["op"], raw["base_version"],
        raw["hlc"], orjson.dumps(raw["data"]))
    assert parsed.fingerprint.hex() != PINNED[0][1]


def test_a_stated_app_version_joins_the_fingerprint_and_an_unstated_one_does_not() -> None:
    raw, pinned = PINNED[0]
    assert parse_mutation(raw, 1 << 20).fingerprint.hex() == pinned  # none stated: as before
    stated = parse_mutation({**raw, "app_version": 2}, 1 << 20)
    from_body = parse_mutation(raw, 1 << 20, app_version=2)
    assert isinstance(stated, Mutation) and isinstance(from_body, Mutation)
    assert stated.fingerprint == from_body.fingerprint != bytes.fromhex(pinned)
    assert stated.app_version == from_body.app_version == 2
    assert stated.fingerprint == fingerprint(
        raw["space"], raw["collection"], raw["id"], raw["op"], raw["base_version"],
        raw["hlc"], stated.data_json, 2)
    # the mutation's own app version wins over the body's
    assert parse_mutation({**raw, "app_version": 2}, 1 << 20, app_version=3).fingerprint == \
        stated.fingerprint
    bad = parse_mutation({**raw, "app_version": "2"}, 1 << 20)
    assert isinstance(bad, Rejection) and bad.fingerprint == fingerprint(
        raw["space"], raw["collection"], raw["id"], raw["op"], raw["base_version"],
        raw["hlc"], orjson.dumps(raw["data"]), "2")
