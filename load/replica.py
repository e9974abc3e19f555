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

import enum
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final, TypeVar, overload

import orjson

# (space, collection, id), unpacked by name where read. A plain tuple, not a NamedTuple: the
# clients make one per change and per result they apply (the tool's hot path), and building
# a NamedTuple costs ~2,600 instructions more than a tuple (its __new__ is Python code).
Key = tuple[str, str, str]
Record = dict[str, Any]
Held = Mapping[str, Any]  # a client's own record dict, or a shared State
T = TypeVar("T")


def space_of(key: Key) -> str:
    space, _collection, _rid = key
    return space


class _Absent(enum.Enum):
    """A field the record does not have (None is a value a field may hold). An enum member,
    so that mypy narrows ``x is _ABSENT``."""

    ABSENT = enum.auto()

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent.ABSENT


_SCALARS = ("space", "collection", "id", "version", "seq", "deleted", "hlc", "updated_at")


class State(Mapping[str, Any]):
    """A shared state, compact: scalars in slots and the data as its JSON bytes (decoded
    when read). About 450 bytes instead of the 1,100 of a decoded record dict (nine
    dict entries, the data's own dict and strings). Read like the record dict it stands for
    (``state["data"]``, ``.get("hlc")``, ``dict(state)``)."""

    __slots__ = ("space", "collection", "id", "version", "seq", "deleted", "hlc", "updated_at",
                 "_data", "_extra")
    space: Any
    collection: Any
    id: Any
    version: Any
    seq: Any
    deleted: Any
    hlc: Any
    updated_at: Any
    _data: bytes | _Absent
    _extra: dict[str, Any] | None

    def __init__(self, record: Record) -> None:
        for name in _SCALARS:
            setattr(self, name, record.get(name, _ABSENT))
        data = record.get("data", _ABSENT)
        # a copy of exact size: orjson's own bytes object keeps its 4 KB buffer
        self._data = data if data is _ABSENT else memoryview(orjson.dumps(data)).tobytes()
        extra = {k: v for k, v in record.items() if k not in _KNOWN}
        self._extra = extra or None

    def same_as(self, record: Record) -> bool:
        """``dict(self) == record``, without decoding the data."""
        for name in _SCALARS:
            if getattr(self, name) != record.get(name, _ABSENT):
                return False
        data = record.get("data", _ABSENT)
        if (self._extra or {}) != {k: v for k, v in record.items() if k not in _KNOWN}:
            return False
        if data is _ABSENT or self._data is _ABSENT:
            return data is self._data
        try:
            return orjson.dumps(data) == self._data
        except (TypeError, orjson.JSONEncodeError):
            return False

    def __getitem__(self, name: str) -> Any:
        if name == "data" and self._data is not _ABSENT:
            return orjson.loads(self._data)
        if name in _SCALARS:
            value = getattr(self, name)
            if value is not _ABSENT:
                return value
        elif self._extra and name in self._extra:
            return self._extra[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        for name in _SCALARS:
            if getattr(self, name) is not _ABSENT:
                yield name
        if self._data is not _ABSENT:
            yield "data"
        yield from self._extra or ()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, State):
            return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)
        if isinstance(other, dict):
            return self.same_as(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


_KNOWN = {*_SCALARS, "data"}


class SpaceTable:
    """One space's record keys (dense index) and the latest state received of each."""

    __slots__ = ("name", "index", "keys", "latest")

    def __init__(self, name: str) -> None:
        self.name = name
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.latest: list[State | None] = []

    def slot(self, key: Key) -> int:
        i = self.index.get(key)
        if i is None:
            i = len(self.keys)
            _space, collection, rid = key
            key = (self.name, collection, rid)  # the space string is shared, not per record
            self.index[key] = i
            self.keys.append(key)
            self.latest.append(None)
        return i

    def intern(self, i: int, record: Held) -> Held:
        """The object to hold for ``record``: the shared one when they are equal."""
        shared = self.latest[i]
        if shared is None or record["version"] > shared.version:
            # the newest state seen so far becomes the shared one, in its compact form; its
            # key strings are the table's (the decoded ones are per client copies)
            state = State(record)  # type: ignore[arg-type]
            space, collection, rid = self.keys[i]
            if (state.space, state.collection, state.id) == (space, collection, rid):
                state.space, state.collection, state.id = space, collection, rid
            self.latest[i] = state
            return state
        if shared.version == record["version"] and shared.same_as(record):  # type: ignore[arg-type]
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


class ClientStore(MutableMapping[Key, Held]):
    """One client's confirmed copy: per space, one slot per record of the shared table."""

    __slots__ = ("_replicas", "_held")

    def __init__(self, replicas: Replicas | None = None) -> None:
        self._replicas = replicas if replicas is not None else Replicas()
        self._held: dict[str, list[Held | None]] = {}

    @overload
    def get(self, key: Key, default: None = None) -> Held | None: ...
    @overload
    def get(self, key: Key, default: Held | T) -> Held | T: ...

    def get(self, key: Key, default: object = None) -> object:
        space, _collection, _rid = key
        held = self._held.get(space)
        if held is None:
            return default
        i = self._replicas.tables[space].index.get(key)
        if i is None or i >= len(held):
            return default
        record = held[i]
        return default if record is None else record

    def __getitem__(self, key: Key) -> Held:
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def _slot(self, key: Key) -> tuple[list[Held | None], SpaceTable, int]:
        space, _collection, _rid = key
        table = self._replicas.tables.get(space) or self._replicas.table(space)
        i = table.index.get(key)
        if i is None:
            i = table.slot(key)
        held = self._held.get(space)
        if held is None:
            held = self._held[space] = []
        if i >= len(held):
            held.extend([None] * (len(table.keys) - len(held)))
        return held, table, i

    def __setitem__(self, key: Key, record: Held) -> None:
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

    def agrees_with(self, space: str, expected: Mapping[Key, Any],
                    same: Callable[[Held, Any], bool], verified: dict[int, bool]) -> bool:
        """Does this client hold exactly ``expected`` for ``space``? The fast answer for a
        caught-up client: its slots are the table's latest states (one list comparison,
        identity first, in C), and those states were checked against ``expected`` once
        for all clients (cached in ``verified`` under the table's id). False means: look
        record by record."""
        table = self._replicas.tables.get(space)
        held = self._held.get(space)
        if table is None or held is None:
            return False
        ok = verified.get(id(table))
        if ok is None:
            latest, keys = table.latest, table.keys
            wanted = sum(1 for key in expected if space_of(key) == space)
            ok = wanted == len(latest) - latest.count(None) and all(
                state is None or ((theirs := expected.get(keys[i])) is not None
                                  and same(state, theirs))
                for i, state in enumerate(latest))
            verified[id(table)] = ok
        if not ok:
            return False
        if len(held) < len(table.latest):
            held.extend([None] * (len(table.latest) - len(held)))
        return held == table.latest

    def drop_space(self, space: str) -> None:
        """resync: forget every record of the space."""
        self._held.pop(space, None)
