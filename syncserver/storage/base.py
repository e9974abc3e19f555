"""The storage interface: all the sync core (service.py, push.py, conflicts.py, epoch.py, the
endpoints and the commands) knows of a database. `Storage` is a backend, `PushTransaction`
one of its write transactions; storage/sqlite/backend.py is one implementation, PostgreSQL the
second, chosen by the `--db` URL (storage/factory.py). No core code reaches a driver
connection.

What every backend guarantees (docs/storage.md says why):

- `write(fn)` runs `fn` in one atomic transaction and answers `fn`'s value only once it has
  committed; an exception from `fn` leaves nothing of it stored. Storage trouble (full
  disk, lost connection, lock timeout) answers SyncError `storage_unavailable`. Inside
  `fn`, a transaction's methods raise the database's errors as `StorageError`
  (storage/failures.py), never a driver's exception; `fn` must let them propagate.
- Every space has a gap-free feed: `next_seq` hands out 1, 2, 3, ... per space, and a reader
  never sees seq n+1 committed before seq n (a change is visible in the order of its seq).
- Lock order: a transaction that writes records calls `lock(client_id, spaces)` before it
  reads anything it will decide on; a backend with concurrent writers takes the client's
  row, then each space's row in sorted order, held to commit, so two writers never
  deadlock. SQLite's single writer serializes every transaction: a no-op there.
- (client_id, mid) is applied once: `write_results` commits with the batch's effects, and
  `stored_results` finds them for every later replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..config.metrics import Metrics
from ..model.mutations import Mutation
from ..model.records import RecordKey, Row, StoredRecord
from .health import StorageFailure
from .mutation_log import Entry, StoredResult
from .push_subscriptions import PushSubscriptionRow
from .reading import MERGED_RANGES_MAX as MERGED_RANGES_MAX  # (its old home)
from .reading import Readable
from .record_scan import ScannedRecord

T = TypeVar("T")


class PushTransaction(Protocol):
    """One write transaction, used from a single thread by push.apply_batch,
    conflicts.resolve and epoch.py."""

    def lock(self, client_id: str | None, spaces: Iterable[str]) -> None:
        """Take the locks the transaction needs, in the global order: the client's row
        (None: no client), then `spaces` sorted; held to commit. Called once, first.
        `spaces` may repeat and come in any order (push passes a generator over its
        mutations, which SQLite never runs)."""

    def stored_results(self, client_id: str, mids: list[int]) -> dict[int, StoredResult]:
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

    def write_results(self, client_id: str, entries: list[Entry], created_at: int) -> None:
        """Keep the (mid, fingerprint, result JSON) of a batch's mutations for replays,
        atomically with their effects."""

    def write_conflict(self, m: Mutation, client_id: str, policy: str, status: str,
                       server: str, outcome: str, created_at: int) -> int:
        """Record a resolution in the audit; returns its id."""

    def load_conflict(self, conflict_id: int) -> dict[str, Any] | None:
        """One entry of the audit as a dict of its columns (None: no such entry). A backend
        with concurrent writers locks the entry's row (resolving reads it before `lock`:
        the space to lock is in it)."""

    def close_conflict(self, conflict_id: int, outcome: str, resolved_at: int) -> None:
        """Mark an open conflict resolved, with its outcome (JSON text)."""

    def get_meta(self, key: str) -> str | None:
        """A value of the database's own key-value table (epochs, the cursor secret)."""

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace a value of that table."""

    def add_meta(self, key: str, value: str) -> str:
        """The value of `key`, storing `value` first if it has none: safe when two
        instances start on a new database at once (both answer the value that won)."""


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


class LocalNotifier(Protocol):
    """What a fan-out uses of the instance's notifier (core/notifier.py), which shares what
    it publishes with every subscriber here: declared here, so that a storage backend does
    not import the sync core it feeds."""

    closing: bool

    def serves(self, space: str) -> bool: ...

    def served(self) -> list[str]: ...

    def head(self, space: str) -> int | None: ...

    def prune(self) -> None: ...

    def publish(self, space: str, prev: int, head: int, rows: list[Row]) -> None: ...


class Fanout(Protocol):
    """Brings this instance the changes other instances commit to the same database, and
    publishes them to its notifier (postgres/fanout.py)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Storage(Protocol):
    """A backend. Reads run concurrently with writes and with each other."""

    kind: str  # "sqlite", "postgresql": shown by /healthz

    async def open(self) -> None:
        """Connect; the schema is already migrated (storage/factory.py prepares it)."""

    async def close(self) -> None:
        ...

    async def write(self, fn: Callable[[PushTransaction], T]) -> T:
        """Run `fn` in a write transaction; its value once committed (see the module
        docstring). `fn` must let database errors propagate."""

    async def changes(self, space: str, since: int, limit: int,
                      collections: list[str] | None, max_bytes: int = 1 << 62,
                      readable: Readable | None = None) -> tuple[Page, SpaceHead]:
        """Up to `limit` changes of `space` after `since` in seq order (only those of
        `collections`, if given; only those `readable` admits, if given: in the
        statement, storage/reading.py), stopping at `max_bytes` (the first change always
        goes in), and the space's head, read from one snapshot. Without `more`, the
        page's last_seq is the head (or `since`, if ahead)."""

    async def head(self, space: str) -> SpaceHead:
        ...

    async def heads(self, spaces: list[str]) -> dict[str, int]:
        """The feed head of each of `spaces` that has one (a space never written is
        absent, or 0), in one statement: the fan-out's periodic catch-up (fanout.py), the
        spaces a token grants (GET /v1/spaces), the quiet spaces of a many-space pull."""

    async def written_spaces(self, limit: int) -> dict[str, int]:
        """The spaces written at least once (head above 0) and their heads, by name, at most
        `limit` of them, in one statement (GET /v1/spaces with auth off)."""

    async def rows_between(self, space: str, after: int, upto: int) -> list[Row]:
        """The records of `space` whose last change has after < seq <= upto, in seq order
        (a record changed again past `upto` is absent): a range one notification announced,
        read once by an instance and shared by all its subscribers (fanout.py)."""

    async def meta(self, key: str) -> str | None:
        """A value of the key-value table (PushTransaction.get_meta), read without
        writing (`syncserver token --dev` reads the dev secret beside a running server)."""

    async def scan_records(self, collections: list[str], after: RecordKey, limit: int
                           ) -> list[ScannedRecord]:
        """Up to `limit` live records of `collections` with a key after `after`
        (record_scan.START: from the first), in key order; reads only (record_scan.py)."""

    async def count_records(self, collections: list[str]) -> int:
        """How many live records `collections` hold."""

    async def conflicts(self, filters: dict[str, str], after: int, limit: int,
                        spaces: list[str] | None = None,
                        restricted: dict[str, Readable] | None = None
                        ) -> list[dict[str, Any]]:
        """Audit entries with id > `after`, by id, as dicts of their columns; `filters` on
        space, collection, record_id, status; `spaces`: only those (None: any);
        `restricted`: in these spaces, only the conflicts of records the reader's roles
        let it read (storage/reading.py), in the query."""

    async def compact(self, older_than_ms: int) -> CompactStats:
        """Purge tombstones, mutation results and resolved conflicts older than the age,
        moving each space's horizon past the purged tombstones; trim conflict metadata.
        Assigns no seq."""

    async def secret(self, name: str = "cursor_secret") -> bytes:
        """A random key kept in the database under `name`, created on first use (the
        cursor-signing key; the dev-mode token key)."""

    async def health(self) -> StorageFailure | None:
        """The storage failure that lasts (None: the database answers and can commit):
        storage/health.py."""

    def fanout(self, notifier: LocalNotifier, metrics: Metrics, catchup_interval: float,
               chunk: int) -> Fanout | None:
        """The fan-out of the changes other instances commit to this database, not yet
        started, publishing to `notifier`; every `catchup_interval` seconds it checks for
        notifications it missed, and reads at most `chunk` seqs at once. None: a backend
        only one process writes (SQLite) has nothing to fan out."""

    # -- Web Push subscriptions (push_subscriptions.py: the statements both run) ------

    async def save_push_subscription(self, row: PushSubscriptionRow, max_per_user: int
                                     ) -> str:
        """Insert or replace the subscription of (row.sub, row.client_id) with its spaces:
        "saved"; nothing stored: "full" (its user holds `max_per_user` others) or
        "not_yours" (the client id is bound to another user)."""

    async def delete_push_subscription(self, sub: str, client_id: str,
                                       endpoint: str | None = None) -> bool:
        """Remove a subscription (with `endpoint`: only while it is that one); True if
        one was removed."""

    async def push_subscription(self, sub: str, client_id: str) -> PushSubscriptionRow | None:
        """One subscription with its spaces (None: none)."""

    async def push_subscriptions(self, space: str) -> list[PushSubscriptionRow]:
        """The subscriptions following `space`, without their lists of spaces."""

    async def push_spaces(self) -> tuple[str | None, set[str]]:
        """The subscriptions' version (changed by every save and delete; None: never
        written) and the spaces that have at least one subscription."""

    async def push_version(self) -> str | None:
        """The version alone: one row read, to know whether the spaces changed."""
