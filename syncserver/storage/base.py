"""The storage interface. The sync core (push.py, changes.py) sees only these protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..mutations import Mutation
from ..records import RecordKey, Row, StoredRecord


class PushTransaction(Protocol):
    """One write transaction, used from a single thread by push.apply_batch."""

    def stored_results(self, client_id: str, mids: list[int]) -> dict[int, tuple[bytes, bytes]]:
        """(fingerprint, result JSON) of the mutations of `client_id` already stored."""

    def purged_mid(self, client_id: str) -> int:
        """Highest mid of this client whose stored result was compacted away (0: none)."""

    def client_owner(self, client_id: str) -> str | None:
        """The user a client id is bound to (auth on), or None."""

    def bind_client(self, client_id: str, sub: str, bound_at: int) -> None:
        """Bind an unbound client id to a user."""

    def load_record(self, space: str, collection: str, record_id: str) -> StoredRecord | None:
        ...

    def load_rows(self, keys: list[RecordKey]) -> dict[RecordKey, Row]:
        """Many records in few queries, as rows (missing ones are absent from the answer)."""

    def next_seq(self, space: str) -> int:
        """Allocate the next feed position of `space` (in commit order)."""

    def write_row(self, key: RecordKey, row: Row) -> None:
        """Store a record's new state (a later write of the same key in the batch wins)."""

    def write_results(self, client_id: str, entries: list[tuple[int, bytes, bytes]],
                      created_at: int) -> None:
        """Keep the (mid, fingerprint, result JSON) of a batch's mutations for replays,
        atomically with their effects."""

    def write_conflict(self, m: Mutation, client_id: str, policy: str, status: str,
                       server: str, outcome: str, created_at: int) -> int:
        """Record a resolution in the audit; returns its id."""

    def load_conflict(self, conflict_id: int) -> dict[str, Any] | None:
        """One entry of the audit as a dict of its columns (None: no such entry)."""

    def close_conflict(self, conflict_id: int, outcome: str, resolved_at: int) -> None:
        """Mark an open conflict resolved, with its outcome (JSON text)."""


@dataclass
class Page:
    """A page of the feed: its change JSON objects joined by commas (the inside of a JSON
    array), how many there are, the position after them, and `more`."""

    changes: bytes
    count: int
    last_seq: int
    more: bool


@dataclass
class SpaceHead:
    seq: int = 0
    horizon: int = 0


@dataclass
class CompactStats:
    tombstones: int = 0
    mutations: int = 0
    conflicts: int = 0
    metadata: int = 0  # records whose conflict metadata lost entries older than the horizon
    horizons: dict[str, int] = field(default_factory=dict)
