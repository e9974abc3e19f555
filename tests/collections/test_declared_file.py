"""The collections file's parser (syncserver/collections/declared.py): every problem it
refuses, named with its place and its fix, and a TOML file read as the same JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncserver.collections.declared import (
    ANYONE,
    NONE_DECLARED,
    CollectionsFileError,
    load_collections,
    parse_collections,
)
from syncserver.model.policies import Policy
from tests.collections import upgrades

UPGRADE = "tests.collections.upgrades:todos"
RESOLVER = "tests.collections.upgrades:title_case"

TOML = f"""
app_version = 3
min_app_version = 2
undeclared = "allow"

[collections.todos]
policy = "lww"
version = 3
upgrade = "{UPGRADE}"
read = ["*"]
create = ["member"]
update = ["member", "owner"]
delete = ["owner", "admin"]

[collections.todos.schema]
type = "object"
required = ["title"]
properties.title = {{ type = "string", maxLength = 200 }}
properties.tags = {{ type = "array", items = {{ type = "string" }} }}

[collections.notes]
resolver = "{RESOLVER}"
"""

SAME_AS_JSON = {
    "app_version": 3, "min_app_version": 2, "undeclared": "allow",
    "collections": {
        "todos": {"policy": "lww", "version": 3, "upgrade": UPGRADE, "read": ["*"],
                  "create": ["member"], "update": ["member", "owner"],
                  "delete": ["owner", "admin"],
                  "schema": {"type": "object", "required": ["title"],
                             "properties": {"title": {"type": "string", "maxLength": 200},
                                            "tags": {"type": "array",
                                                     "items": {"type": "string"}}}}},
        "notes": {"resolver": RESOLVER},
    },
}


def test_a_toml_file_and_its_json_twin_declare_the_same(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(TOML)
    (tmp_path / "c.json").write_text(json.dumps(SAME_AS_JSON))
    from_toml = load_collections(tmp_path / "c.toml")
    from_json = load_collections(tmp_path / "c.json")
    assert from_toml.served() == from_json.served()
    assert from_toml.upgrades == from_json.upgrades == {"todos": upgrades.todos}
    assert from_toml.resolvers == from_json.resolvers == {"notes": upgrades.title_case}
    todos = from_toml.collections["todos"]
    assert (todos.policy, todos.version, todos.create, todos.update) == (
        Policy.LWW, 3, ("member",), ("member", "owner"))
    assert todos.schema is not None and todos.schema.problem({"title": 5}) is not None
    assert (from_toml.app_version, from_toml.min_app_version, from_toml.undeclared) == (
        3, 2, "allow")
    assert from_toml.source == str(tmp_path / "c.toml") and from_toml.declared


def test_defaults_of_a_file_and_of_no_file() -> None:
    declared = parse_collections({"collections": {"todos": {}}}, "f.toml")
    todos = declared.collections["todos"]
    assert (declared.app_version, declared.min_app_version, declared.undeclared) == (
        1, 1, "reject")  # a file closes what it does not name
    assert (todos.schema, todos.policy, todos.version, todos.read) == (None, None, 1, (ANYONE,))
    assert not declared.restricted()
    assert (NONE_DECLARED.undeclared, NONE_DECLARED.declared) == ("allow", False)


def _refused(document: Any) -> str:
    with pytest.raises(CollectionsFileError) as refused:
        parse_collections(document, "f.toml")
    message = str(refused.value)
    assert message.startswith("f.toml"), message
    return message


@pytest.mark.parametrize("document, needles", [
    ([], ["one object"]),
    ({"version": 2}, ["unknown key 'version'", "app_version"]),
    ({"app_version": 0}, ["app_version is 0", "whole number from 1"]),
    ({"app_version": "2"}, ["app_version is '2'"]),
    ({"app_version": True}, ["app_version is True"]),
    ({"app_version": 2**31}, ["app_version is 2147483648"]),
    ({"min_app_version": 1.5}, ["min_app_version is 1.5"]),
    ({"app_version": 2, "min_app_version": 3}, ["min_app_version 3 is above app_version 2",
                                                  "lower min_app_version"]),
    ({"undeclared": "open"}, ["undeclared is 'open'", '"reject" or "allow"']),
    ({"collections": ["todos"]}, ["collections is a table"]),
    ({"collections": {"to do": {}}}, ["collections.to do", "a collection name matches"]),
    ({"collections": {"todos": "merge"}}, ["collections.todos", "a table of its settings"]),
    ({"collections": {"todos": {"polcy": "lww"}}}, ["collections.todos",
                                                    "unknown key 'polcy'", "policy"]),
    ({"collections": {"todos": {"schema": "object"}}}, ["collections.todos.schema",
                                                        "a schema is a JSON object"]),
    ({"collections": {"todos": {"schema": {"$schema": "http://json-schema.org/draft-07/schema#"}}}},
     ["collections.todos.schema", "only JSON Schema 2020-12"]),
    ({"collections": {"todos": {"schema": {"type": "objekt"}}}},
     ["collections.todos.schema", "not a valid JSON Schema 2020-12 at /type"]),
    ({"collections": {"todos": {"schema": {"$ref": "https://example.com/todo.json"}}}},
     ["collections.todos.schema", "cannot be compiled", "$defs"]),
    ({"collections": {"todos": {"policy": "newest"}}}, ["collections.todos.policy",
                                                        "'newest' is no conflict policy",
                                                        "lww"]),
    ({"collections": {"todos": {"policy": "custom"}}}, ["collections.todos.policy",
                                                        "name the function in `resolver`"]),
    ({"collections": {"todos": {"version": 0}}}, ["collections.todos", "version is 0"]),
    ({"app_version": 2, "collections": {"todos": {"version": 3}}},
     ["collections.todos.version", "above the file's app_version 2", "raise app_version"]),
    ({"collections": {"todos": {"read": "*"}}}, ["collections.todos.read",
                                                 "a non-empty list of role names"]),
    ({"collections": {"todos": {"update": []}}}, ["collections.todos.update", "non-empty"]),
    ({"collections": {"todos": {"delete": ["admin", ""]}}}, ["collections.todos.delete"]),
    ({"collections": {"todos": {"create": [3]}}}, ["collections.todos.create"]),
    ({"collections": {"todos": {"read": ["*", "admin"]}}}, ["collections.todos.read",
                                                            '"*" already lets everyone']),
    ({"collections": {"todos": {"create": ["owner"]}}}, ["collections.todos.create",
                                                         '"owner" cannot create']),
    ({"collections": {"todos": {"upgrade": "tests.collections.upgrades.todos"}}},
     ["collections.todos.upgrade", '"package.module:function"']),
    ({"collections": {"todos": {"resolver": 7}}}, ["collections.todos.resolver",
                                                   '"package.module:function"']),
    ({"collections": {"todos": {"upgrade": "tests.collections.nowhere:todos"}}},
     ["collections.todos.upgrade", "cannot be loaded", "Python path"]),
    ({"collections": {"todos": {"upgrade": "tests.collections.upgrades:nothing"}}},
     ["collections.todos.upgrade", "cannot be loaded"]),
    ({"collections": {"todos": {"upgrade": "tests.collections.upgrades:UPGRADE_NOTE"}}},
     ["collections.todos.upgrade", "is not a function"]),
    ({"collections": {"todos": {"resolver": "tests.collections.nowhere:resolve"}}},
     ["collections.todos.resolver", "cannot be loaded"]),
])
def test_a_file_with_a_problem_is_refused_naming_its_place_and_fix(
        document: Any, needles: list[str]) -> None:
    message = _refused(document)
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(CollectionsFileError, match="cannot be read"):
        load_collections(tmp_path / "missing.toml")


@pytest.mark.parametrize("name, text, needle", [
    ("c.toml", "[collections.todos\n", "not valid TOML"),
    ("c.toml", b"title = '\xff'", "not valid TOML"),
    ("c.json", "{\"collections\": ", "not valid JSON"),
    ("c.yaml", "collections: {}", "name the file .toml or .json"),
])
def test_a_file_in_no_format_it_claims_is_refused(tmp_path: Path, name: str,
                                                 text: str | bytes, needle: str) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(CollectionsFileError) as refused:
        load_collections(path)
    assert str(refused.value).startswith(str(path)) and needle in str(refused.value)
