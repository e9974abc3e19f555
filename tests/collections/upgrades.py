"""A collection's upgrade function for the tests' collections files (importable from the
repository, where the tests run the `syncserver` command)."""

from __future__ import annotations

from typing import Any


def todos(data: dict[str, Any], from_version: int, op: str) -> dict[str, Any]:
    return {**data, "done": data.get("done", False)}
