"""The collections file in force: what the server last started with, kept in the meta table
so that `syncserver collections check FILE` can say what a new file would change.

The server stores it once at start (SyncService.start), in its canonical form: the file as
GET /v1/collections serves it (Declared.served), plus each collection's `resolver` and
`upgrade` (server-side names, not served to clients, but a change of them is a change of
behaviour), as JSON with sorted keys. A server started without a file stores that too
(`"declared": false`: every collection open): the key always says what the last server
started on the database enforces. Instances of one PostgreSQL database started with
different files: the last one started wins (they should share one file).
"""

from __future__ import annotations

import json
from typing import Any

from ..collections.declared import Declared
from .base import PushTransaction

KEY = "collections_in_force"


def canonical(declared: Declared) -> dict[str, Any]:
    """The file's content as compared by `collections check`: the served form, plus the
    Python functions each collection names."""
    form = declared.served()
    for name, spec in declared.collections.items():
        form["collections"][name].update(resolver=spec.resolver, upgrade=spec.upgrade)
    return form


def dumps(form: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, so that the same file is the same text."""
    return json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record(txn: PushTransaction, declared: Declared) -> None:
    """Store the file in force (inside the caller's write transaction); unchanged: no write."""
    text = dumps(canonical(declared))
    if txn.get_meta(KEY) != text:
        txn.set_meta(KEY, text)


def parse(text: str | None) -> dict[str, Any] | None:
    """The stored form (None: no server of this version has started on the database)."""
    return None if text is None else json.loads(text)
