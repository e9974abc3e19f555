"""Conflict policies, declared per collection, and custom resolvers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Policy(str, Enum):
    MERGE = "merge"
    LWW = "lww"
    SERVER_WINS = "server-wins"
    CLIENT_WINS = "client-wins"
    MANUAL = "manual"
    CUSTOM = "custom"


@dataclass(frozen=True)
class ConflictContext:
    """What a custom resolver sees. The base version's data is not kept (per-field
    metadata says what changed since it): `changed_since_base` names those fields."""

    space: str
    collection: str
    id: str
    base_version: int
    server: dict[str, Any] | None  # None: the record is deleted or never existed
    server_version: int
    client_op: str
    client_data: dict[str, Any] | None
    client_id: str
    client_hlc: str
    server_hlc: str
    changed_since_base: frozenset[str]


# Returns the record's new data, or None to delete it. An exception rejects the mutation.
Resolver = Callable[[ConflictContext], "dict[str, Any] | None"]


@dataclass
class PolicyTable:
    default: Policy = Policy.MERGE
    by_collection: dict[str, Policy] = field(default_factory=dict)
    resolvers: dict[str, Resolver] = field(default_factory=dict)

    def policy(self, collection: str) -> Policy:
        if collection in self.resolvers:
            return Policy.CUSTOM
        return self.by_collection.get(collection, self.default)

    def register(self, collection: str, resolver: Resolver) -> None:
        """Python API: resolve conflicts of `collection` with `resolver`."""
        self.resolvers[collection] = resolver

    @classmethod
    def parse(cls, default: str, policies: str, resolvers: str) -> PolicyTable:
        """From settings: 'todos=lww,notes=manual' and 'todos=myapp.sync:resolve'."""
        table = cls(default=_policy(default))
        for name, value in _pairs(policies, "policies"):
            table.by_collection[name] = _policy(value)
        for name, value in _pairs(resolvers, "resolvers"):
            table.resolvers[name] = load_resolver(value)
        return table


def _policy(value: str) -> Policy:
    try:
        return Policy(value.strip())
    except ValueError:
        names = ", ".join(p.value for p in Policy if p is not Policy.CUSTOM)
        raise ValueError(f"unknown conflict policy {value!r}: use one of {names}") from None


def _pairs(text: str, setting: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{setting}: expected collection=value, got {item!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def load_resolver(path: str) -> Resolver:
    module_name, sep, attr = path.partition(":")
    if not sep:
        raise ValueError(f"resolver {path!r}: expected 'package.module:function'")
    try:
        resolver = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"resolver {path!r} cannot be loaded: {exc}") from None
    if not callable(resolver):
        raise ValueError(f"resolver {path!r} is not callable")
    return resolver  # type: ignore[no-any-return]
