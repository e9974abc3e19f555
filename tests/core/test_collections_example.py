"""The collections file docs/collections.md shows is the one in docs/examples/collections/,
loads as the server loads it, and its upgrade function makes a version 1 app's items valid
version 2 items: the documented example cannot rot."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncserver.collections.declared import (
    _COLLECTION_KEYS,
    _FILE_KEYS,
    Declared,
    load_collections,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "collections"
GUIDE = REPO / "docs" / "collections.md"


@pytest.fixture
def shopping(monkeypatch: pytest.MonkeyPatch) -> Declared:
    monkeypatch.syspath_prepend(str(EXAMPLE))  # as PYTHONPATH=docs/examples/collections
    return load_collections(EXAMPLE / "shopping.toml")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", GUIDE.read_text(), re.M | re.S)


def test_the_guide_shows_the_example_files_as_they_are() -> None:
    assert _blocks("toml")[0] == (EXAMPLE / "shopping.toml").read_text()
    assert json.loads(_blocks("json")[0]) == json.loads((EXAMPLE / "shopping.json").read_text())
    assert _blocks("python")[0] == (EXAMPLE / "shopping_upgrades.py").read_text()


def test_the_example_loads_the_same_from_toml_and_from_json(
        shopping: Declared, monkeypatch: pytest.MonkeyPatch) -> None:
    as_json = load_collections(EXAMPLE / "shopping.json")
    assert as_json.served() == shopping.served()
    assert tomllib.loads((EXAMPLE / "shopping.toml").read_text()) == json.loads(
        (EXAMPLE / "shopping.json").read_text())
    assert (shopping.app_version, shopping.min_app_version, shopping.undeclared) == (
        2, 1, "reject")
    items = shopping.spec("items")
    assert items is not None and items.version == 2 and items.read == ("*",)
    assert items.delete == ("owner", "admin")
    assert shopping.upgrades["items"].__module__ == "shopping_upgrades"


def test_the_upgrade_turns_a_version_1_item_into_a_valid_version_2_item(
        shopping: Declared) -> None:
    items = shopping.spec("items")
    assert items is not None and items.schema is not None
    upgrade = shopping.upgrades["items"]
    v1 = {"list": "weekly", "title": "Oat milk", "quantity": 2, "done": False}
    problem = items.schema.problem(v1)  # as it was written: refused by the version 2 schema
    assert problem is not None and problem.pointer == ""
    upgraded = upgrade(v1, 1, "put")
    assert items.schema.problem(upgraded) is None
    assert upgraded == {"list": "weekly", "name": "Oat milk", "quantity": 2, "done": False}
    assert "title" in v1  # the data given is left as it was


def test_the_upgrade_renames_in_a_patch_and_keeps_operations(shopping: Declared) -> None:
    upgrade = shopping.upgrades["items"]
    patch: dict[str, Any] = {"title": "Soy milk", "quantity": {"$inc": 1}}
    assert upgrade(patch, 1, "patch") == {"name": "Soy milk", "quantity": {"$inc": 1}}
    assert upgrade({"done": True}, 1, "patch") == {"done": True}
    current = {"list": "weekly", "name": "Bread"}
    assert upgrade(current, 2, "put") is current  # already version 2: untouched


def test_the_guide_names_every_key_of_the_file() -> None:
    text = GUIDE.read_text()
    missing = [key for key in sorted(_FILE_KEYS | _COLLECTION_KEYS) if f"| `{key}` |" not in text]
    assert not missing, f"keys missing from the tables of docs/collections.md: {missing}"
