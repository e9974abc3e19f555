"""The upgrade function of the shopping-list example (docs/collections.md): the server calls it
for every write to `items` stamped with an app version below the collection's `version`
(shopping.toml: `upgrade = "shopping_upgrades:items"`), before the write is merged and
validated. Put this module on the server's Python path (PYTHONPATH)."""

from __future__ import annotations

from typing import Any


def items(data: dict[str, Any], from_version: int, op: str) -> dict[str, Any]:
    """Version 2 renamed an item's `title` to `name`. `data` is a put's whole record or a
    patch's fields (a value may be null, to remove the field, or a commutative operation
    such as {"$inc": 1}): either way the key is renamed and its value kept. A new dict is
    returned; the one given is left as it was."""
    if from_version >= 2 or "title" not in data:
        return data
    upgraded = {key: value for key, value in data.items() if key != "title"}
    upgraded.setdefault("name", data["title"])  # a v1 app never sends "name": kept if so
    return upgraded
