"""App code the collections files of these tests name: upgrades of an old app's data and a
resolver, loaded by the server as an operator's would be ("tests.collections.upgrades:...")."""

from __future__ import annotations

from typing import Any

from syncserver.model.policies import ConflictContext


def todos(data: dict[str, Any], from_version: int, op: str) -> dict[str, Any]:
    """App version 1 called the title `name` and kept `done` as "yes"/"no"; version 2 made
    the counter `likes` a number (it was a string); version 3 is current. A patch may hold
    commutative operations: a `$inc` of the old string counter becomes a number's."""
    data = dict(data)
    if from_version < 2:
        if "name" in data:
            data["title"] = data.pop("name")
        if isinstance(data.get("done"), str):
            data["done"] = data["done"] == "yes"
    likes = data.get("likes")
    if isinstance(likes, str):
        data["likes"] = int(likes)
    elif isinstance(likes, dict) and isinstance(likes.get("$inc"), str):
        data["likes"] = {"$inc": int(likes["$inc"])}
    return data


def fails(data: dict[str, Any], from_version: int, op: str) -> dict[str, Any]:
    raise KeyError(f"no rule for app version {from_version}")


def returns_a_list(data: dict[str, Any], from_version: int, op: str) -> Any:
    return [data]


def returns_a_set(data: dict[str, Any], from_version: int, op: str) -> Any:
    return {**data, "tags": {"a", "b"}}


def grows(data: dict[str, Any], from_version: int, op: str) -> dict[str, Any]:
    return {**data, "padding": "x" * 5000}


def title_case(ctx: ConflictContext) -> dict[str, Any] | None:
    """A custom resolver whose result keeps the client's data, the title upper-cased: what
    it makes of a record is validated too."""
    data = dict(ctx.client_data or {})
    if isinstance(data.get("title"), str):
        data["title"] = data["title"].upper()
    return data


def numbers_title(ctx: ConflictContext) -> dict[str, Any] | None:
    """A resolver that writes a title of the wrong type: its output breaks the schema."""
    return {**(ctx.server or {}), "title": 42}


def merge_label(ctx: ConflictContext) -> dict[str, Any] | None:
    return {**(ctx.server or {}), **(ctx.client_data or {})}

UPGRADE_NOTE = "not a function: a collections file naming it is refused"
