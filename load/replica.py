"""The simulated clients' confirmed copies, stored once per record instead of once per client.

A thousand clients following the same spaces end up holding the same records. Kept as a
dict of decoded records per client, the tool's memory grew with clients x records (200
clients for 40 s: 4.3 GB; 1,000 clients at one small batch a second: killed at 23 GB after
about four minutes). Here:

- each space has one ``SpaceTable`` shared by every client of the run: a dense index of the
  space's record keys (one key tuple per record, not one per client) and the latest state
  any client received of each record;
- a client's store (``ClientStore``) holds, per space, a list with one slot per record of
  the table: a reference to the state the client holds, ``None`` where it holds nothing.
  That is 8 bytes per client and record;
- a state a client receives is *interned*: when it equals the table's latest state of the
  record (same version, and ``==`` on the whole record: data, seq, stamp), the client keeps
  a reference to that one object and the freshly decoded copy is dropped. A state that
  differs (an older version, or, if the server is wrong, a different body at the same
  version) stays the client's own, so the checker still sees exactly what each client
  received.

The client and the checker use a ``ClientStore`` like the dict it replaces (``get``,
``[key]``, ``in``, iteration over keys)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

Key = tuple[str, str, str]  # (space, collection, id)
Record = dict[str, Any]


class SpaceTable:
    """One space's record keys (dense index) and the latest state received of each."""

    __slots__ = ("name", "index", "keys", "latest")

    def __init__(self, name: str) -> None:
        self.name = name
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.latest: list[Record | None] = []

    def slot(self, key: Key) -> int:
        i = self.index.get(key)
        if i is None:
            i = len(self.keys)
            key = (self.name, key[1], key[2])  # the space string is shared, not per record
            self.index[key] = i
            self.keys.append(key)
            self.latest.append(None)
        return i

    def intern(self, i: int, record: Record) -> Record:
        """The object to hold for ``record``: the shared one when they are equal."""
        shared = self.latest[i]
        if shared is None or record["version"] > shared["version"]:
            # the newest state seen so far becomes the shared one; its key strings are
            # replaced by the table's (the decoded ones are per client copies)
            space, collection, rid = self.keys[i]
            if record.get("space") == space and record.get("collection") == collection \
                    and record.get("id") == rid:
                record["space"], record["collection"], record["id"] = space, collection, rid
            self.latest[i] = record
            return record
        if shared is record or (shared["version"] == record["version"] and shared == record):
            return shared
        return record  # older, or different: the client's own


class Replicas:
    """Every space's table, shared by the clients of one run."""

    def __init__(self) -> None:
        self.tables: dict[str, SpaceTable] = {}

    def table(self, space: str) -> SpaceTable:
        table = self.tables.get(space)
        if table is None:
            table = self.tables[space] = SpaceTable(space)
        return table

    def records(self) -> int:
        return sum(len(t.keys) for t in self.tables.values())


class ClientStore(MutableMapping[Key, Record]):
    """One client's confirmed copy: per space, one slot per record of the shared table."""

    __slots__ = ("_replicas", "_held")

    def __init__(self, replicas: Replicas | None = None) -> None:
        self._replicas = replicas if replicas is not None else Replicas()
        self._held: dict[str, list[Record | None]] = {}

    def get(self, key: Key, default: Any = None) -> Any:  # type: ignore[override]
        held = self._held.get(key[0])
        if held is None:
            return default
        i = self._replicas.tables[key[0]].index.get(key)
        if i is None or i >= len(held):
            return default
        record = held[i]
        return default if record is None else record

    def __getitem__(self, key: Key) -> Record:
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record  # type: ignore[no-any-return]

    def _slot(self, key: Key) -> tuple[list[Record | None], SpaceTable, int]:
        table = self._replicas.tables.get(key[0]) or self._replicas.table(key[0])
        i = table.index.get(key)
        if i is None:
            i = table.slot(key)
        held = self._held.get(key[0])
        if held is None:
            held = self._held[key[0]] = []
        if i >= len(held):
            held.extend([None] * (len(table.keys) - len(held)))
        return held, table, i

    def __setitem__(self, key: Key, record: Record) -> None:
        held, table, i = self._slot(key)
        held[i] = table.intern(i, record)

    def keep(self, key: Key, record: Record) -> None:
        """Hold a state the client computed itself (an ``applied`` result on top of its
        copy): it lacks fields the server sends (the stamp), so it is never the shared one,
        or every state the feed brings at that version would differ from it and be held
        once per client. The feed replaces it by the server's own."""
        held, _, i = self._slot(key)
        held[i] = record

    def offer(self, key: Key, record: Record) -> bool:
        """Store ``record`` unless the client holds a newer version (push results and live
        changes race): the feed's hot path, one index lookup per change."""
        held, table, i = self._slot(key)
        current = held[i]
        if current is not None and current["version"] > record["version"]:
            return False
        held[i] = table.intern(i, record)
        return True

    def __delitem__(self, key: Key) -> None:
        if self.get(key) is None:
            raise KeyError(key)
        held, _, i = self._slot(key)
        held[i] = None

    def __iter__(self) -> Iterator[Key]:
        for space, held in self._held.items():
            keys = self._replicas.tables[space].keys
            for i, record in enumerate(held):
                if record is not None:
                    yield keys[i]

    def __len__(self) -> int:
        return sum(len(held) - held.count(None) for held in self._held.values())

    def drop_space(self, space: str) -> None:
        """resync: forget every record of the space."""
        self._held.pop(space, None)
