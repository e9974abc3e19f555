"""What a collections file changes from the one in force, for `syncserver collections check`.

Both sides are canonical forms (storage/in_force.py: the served form of a Declared, with each
collection's resolver and upgrade); the one in force may be None (nothing recorded: no
server of this version has started on the database), compared as no file at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .declared import OPERATIONS
from .schema import pointer_of

# A collection's settings in the order a change list shows them.
SETTINGS = ("policy", "resolver", "version", "upgrade", *OPERATIONS)
FILE_SETTINGS = ("app_version", "min_app_version", "undeclared")
SCHEMA_PLACES_SHOWN = 5  # a changed schema lists this many changed places at most
NO_FILE: dict[str, Any] = {"declared": False, "app_version": 1, "min_app_version": 1,
                           "undeclared": "allow", "collections": {}}


@dataclass(frozen=True)
class Change:
    """One difference. `collection` None: a setting of the file itself. `what`: "added",
    "removed", "schema" (new: the changed places, as JSON pointers into the schema),
    "declared" (a file where there was none, or none where there was one), or a
    setting's name."""

    collection: str | None
    what: str
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        if self.what == "added":
            return f"+ {self.collection} (added)"
        if self.what == "removed":
            return (f"- {self.collection} (removed: its records stay; the file's "
                    "`undeclared` now decides its writes)")
        if self.what == "declared":
            return ("collections file: none in force (every collection open) -> this one"
                    if self.new else "collections file: this one -> none")
        where = f"{self.collection}: " if self.collection else ""
        if self.what == "schema":
            places = ", ".join(p or "(the root)" for p in self.new[:SCHEMA_PLACES_SHOWN])
            more = len(self.new) - SCHEMA_PLACES_SHOWN
            return (f"{where}schema changed at {places}"
                    + (f" (and {more} more places)" if more > 0 else ""))
        return f"{where}{self.what}: {_shown(self.what, self.old)} -> {_shown(self.what, self.new)}"

    def as_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "what": self.what, "old": self.old,
                "new": self.new}


def _shown(what: str, value: Any) -> str:
    if value is None:
        return "the server's default" if what == "policy" else "none"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return str(value)


def changes(in_force: dict[str, Any] | None, new: dict[str, Any]) -> list[Change]:
    """What `new` changes from `in_force` (None: nothing recorded), file settings first,
    then each collection by name."""
    old = in_force if in_force is not None else NO_FILE
    found: list[Change] = []
    if bool(old.get("declared")) != bool(new.get("declared")):
        found.append(Change(None, "declared", old.get("declared"), new.get("declared")))
    for key in FILE_SETTINGS:
        if old.get(key) != new.get(key):
            found.append(Change(None, key, old.get(key), new.get(key)))
    before, after = old.get("collections", {}), new.get("collections", {})
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            found.append(Change(name, "added"))
        elif name not in after:
            found.append(Change(name, "removed"))
        else:
            found.extend(_collection_changes(name, before[name], after[name]))
    return found


def _collection_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    found = []
    places = schema_places(old.get("schema"), new.get("schema"))
    if places:
        found.append(Change(name, "schema", None, places))
    for key in SETTINGS:
        if old.get(key) != new.get(key):
            found.append(Change(name, key, old.get(key), new.get(key)))
    return found


def schema_places(old: Any, new: Any, path: list[str | int] | None = None) -> list[str]:
    """The JSON pointers (into the schema) of the places where two schemas differ: a key
    added, removed or changed, a list changed as a whole."""
    path = path or []
    if isinstance(old, dict) and isinstance(new, dict):
        places: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            places.extend(schema_places(old.get(key, _ABSENT), new.get(key, _ABSENT),
                                        [*path, key]))
        return places
    if old is not _ABSENT and new is not _ABSENT and _json(old) == _json(new):
        return []
    return [pointer_of(path)]


_ABSENT = object()


def _json(value: Any) -> str:
    # Python's == takes 1, 1.0 and True for one value: a schema saying `true` where it said
    # `1` has changed all the same.
    return json.dumps(value, sort_keys=True)
