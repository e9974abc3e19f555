"""The sync core: push, pull and long-poll, shared by the HTTP endpoints and the WebSocket.
It speaks in plain values and SyncError; HTTP and WebSocket framing live elsewhere."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..collections.declared import NONE_DECLARED, Declared
from ..config.metrics import Metrics
from ..config.settings import Settings
from ..guard.guard import Guard
from ..guard.limits import FULL_RETRY_AFTER_SECONDS
from ..guard.permissions import Access
from ..guard.roles import Roles
from ..model.errors import ErrorCode, SyncError
from ..model.hlc import SERVER_NODE, Clock
from ..model.mutations import (
    APP_VERSION_RULE,
    MAX_APP_VERSION,
    SPACE_PATTERN,
    parse_mutation,
    valid_client_id,
    whole,
)
from ..model.policies import Policy, PolicyTable
from ..storage import epoch, in_force
from ..storage.base import Fanout, Page, PushTransaction, SpaceHead, Storage
from ..storage.reading import Readable
from . import conflicts
from .admission import Admission
from .collections_file import join_declared
from .cursor import CursorCodec
from .notifier import Notifier
from .push import BatchResult, apply_batch, client_of_another_user

# Push protocols served. 2: a queued write's base_version is the version its client last
# received (not counting its own queued writes); 1 added the number of writes queued before
# it. The server judges both the same way (merge.py): only the meaning of the base differs.
PROTOCOLS = (1, 2)
OWNERS_CACHED = 100_000  # client id -> user bindings remembered in memory (auth on)


@dataclass
class ChangesPage:
    changes: bytes  # JSON objects joined by commas
    count: int
    cursor: str
    more: bool
    held: int = 0  # bytes charged to the page pool: given back once the client took it

    def parts(self, **extra: Any) -> tuple[bytes, bytes, bytes]:
        """The body in three parts, the changes as read (an HTTP page sends them as they
        are: no copy of the page)."""
        tail = orjson.dumps({"cursor": self.cursor, "more": self.more, **extra})
        return b'{"changes":[', self.changes, b"]," + tail[1:]

    def body(self, **extra: Any) -> bytes:
        return b"".join(self.parts(**extra))


def check_space(space: object) -> str:
    if not isinstance(space, str) or SPACE_PATTERN.fullmatch(space) is None:
        raise SyncError(ErrorCode.INVALID_REQUEST,
                        f"space must match {SPACE_PATTERN.pattern}", field="space")
    return space


# The demo's second list shows a person choosing "keep mine" / "keep theirs", which needs
# a `manual` collection; the demo works on a server started with no policy settings.
DEMO_MANUAL_COLLECTION = "demo_notes"


def policies_for(settings: Settings, declared: Declared = NONE_DECLARED) -> PolicyTable:
    """The table the settings and the collections file declare. While the demo is served
    (`--demo`, no `--static`), its collection `demo_notes` is `manual` unless one of them
    names it."""
    table = PolicyTable.parse(settings.default_policy, settings.policies, settings.resolvers)
    join_declared(table, declared)
    if settings.demo and not settings.static and DEMO_MANUAL_COLLECTION not in table.resolvers:
        table.by_collection.setdefault(DEMO_MANUAL_COLLECTION, Policy.MANUAL)
    return table


class SyncService:
    def __init__(self, settings: Settings, storage: Storage, metrics: Metrics, guard: Guard,
                 policies: PolicyTable | None = None,
                 declared: Declared = NONE_DECLARED) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = metrics
        self.guard = guard  # auth, limits, the page pool (guard/guard.py)
        self.notifier = Notifier()
        self.clock = Clock(settings.max_clock_drift_ms)
        self.cursors = CursorCodec(settings.secret.encode())
        self.policies = policies or policies_for(settings, declared)
        self.declared = declared  # the collections file (NONE_DECLARED: none)
        # Its checks of every write; None without a file, and so free on the push path.
        self.admission = Admission(declared, settings.max_record_bytes, settings.max_depth) \
            if declared.declared else None
        # The collections whose new records a push counts (Web Push nudges): empty, and so
        # free on the push path, unless --webpush-notify-new declares some.
        self.notify = frozenset(settings.notify_new)
        self.owners: dict[str, str] = {}  # client id -> sub, as committed (bindings last)
        self.fanout: Fanout | None = None  # changes committed by other instances (PostgreSQL)
        self.roles = Roles(self.declared)  # its role lists (guard/roles.py)

    async def start(self) -> None:
        self.guard.start()
        await self.storage.open()
        secret = self.settings.secret.encode() or await self.storage.secret()
        await self.guard.load_secrets(self.storage)
        epochs = await self.storage.write(epoch.load_or_create)
        self.cursors = CursorCodec(secret, epochs.current, epochs.legacy)
        await self.storage.write(lambda txn: in_force.record(txn, self.declared))
        self.fanout = self.storage.fanout(self.notifier, self.metrics,
                                          self.settings.fanout_catchup_interval,
                                          self.settings.max_batch_mutations)
        if self.fanout is not None:
            self.fanout.start()

    async def stop(self) -> None:
        if self.fanout is not None:
            await self.fanout.stop()
        await self.storage.close()

    async def shutdown(self, timeout: float) -> None:
        """The server is stopping: long-polls answer now, WebSockets close (1001)."""
        await self.notifier.shutdown(timeout)

    # -- push ------------------------------------------------------------------------

    async def push(self, body: object, access: Access | None = None) -> bytes:
        """A push request (already parsed JSON) -> the response body. `access`: what the
        pushing token grants (None: auth off, everything)."""
        if not isinstance(body, dict):
            raise SyncError(ErrorCode.INVALID_REQUEST, "the body must be a JSON object")
        client_id = body.get("client_id")
        if not valid_client_id(client_id):
            raise SyncError(ErrorCode.INVALID_REQUEST,
                            "client_id must be a string matching ^[A-Za-z0-9_.:-]{1,128}$",
                            field="client_id")
        if client_id == SERVER_NODE:
            raise SyncError(ErrorCode.INVALID_REQUEST,
                            f"client_id {SERVER_NODE!r} is reserved for the server's own "
                            "stamps: pick another id", field="client_id")
        app_version = whole(body.get("app_version"))  # of the mutations that state none
        if app_version is not None and (type(app_version) is not int
                                        or not 1 <= app_version <= MAX_APP_VERSION):
            raise SyncError(ErrorCode.INVALID_REQUEST, APP_VERSION_RULE, field="app_version")
        protocol = body.get("protocol", 1)
        if type(protocol) is not int or protocol not in PROTOCOLS:
            raise SyncError(ErrorCode.INVALID_REQUEST,
                            f"protocol must be one of {', '.join(map(str, PROTOCOLS))} "
                            "(absent: 1); see docs/protocol.md", field="protocol")
        raw = body.get("mutations")
        if not isinstance(raw, list):
            raise SyncError(ErrorCode.INVALID_REQUEST, "mutations must be a list",
                            field="mutations")
        limit = self.settings.max_batch_mutations
        if len(raw) > limit:
            raise SyncError(ErrorCode.BATCH_TOO_LARGE,
                            f"{len(raw)} mutations in one batch; the limit is {limit} "
                            "(SYNCSERVER_MAX_BATCH_MUTATIONS): split the batch")
        max_record = self.settings.max_record_bytes
        max_depth = self.settings.max_depth
        assert isinstance(client_id, str)
        sub = access.sub if access is not None else None
        if sub is not None and self.owners.get(client_id, sub) != sub:
            raise client_of_another_user()

        roles = self.roles.of(access)

        def parse_and_apply(txn: PushTransaction) -> BatchResult:
            # Parsing runs on the writer thread too: with the Python work of a push split
            # over two threads, GIL hand-offs cost more CPU than the overlap saved (measured:
            # 31-37 against 25-28 us of server CPU per mutation).
            items = [parse_mutation(m, max_record, max_depth, app_version) for m in raw]
            return apply_batch(txn, client_id, items, self.clock, self.policies, max_record,
                               access.can_write if access is not None else None,
                               sub if sub is not None and self.owners.get(client_id) != sub
                               else None, self.notify, sub, roles, self.admission)

        result: BatchResult = await self.storage.write(parse_and_apply)
        if sub is not None and client_id not in self.owners:  # committed: remember it
            if len(self.owners) >= OWNERS_CACHED:
                self.owners.clear()
            self.owners[client_id] = sub
        for status, n in result.counts.items():
            self.metrics.mutations.labels(status).inc(n)
        self._publish(result, client_id, sub)
        cursors = {s: self.cursors.encode(s, seq) for s, seq in result.heads.items()}
        return b'{"results":[' + b",".join(result.results) + b'],"cursors":' + \
            orjson.dumps(cursors) + b"}"

    # -- pull ------------------------------------------------------------------------

    async def changes(self, space: str, cursor: str | None, limit: int,
                      collections: list[str] | None, wait: float = 0.0,
                      sub: str | None = None, room_wait: float | None = None,
                      readable: Readable | None = None) -> ChangesPage:
        """A page of the feed, charged to the page pool: the caller gives `held` back once
        the client took the page. `wait` > 0: a long-poll, held for `sub`'s connections
        (429 too_many_connections at its limit) and the server's (a plain pull when full).
        `room_wait`: the longest wait for room in the pool (an HTTP pull answers 503
        server_busy past it); None: as long as it takes. `readable`: what the reader's
        roles leave it of the space (`reading`; None: everything)."""
        since = self.cursors.decode(space, cursor)
        wait = min(max(wait, 0.0), self.settings.max_wait)
        if wait <= 0:
            return await self._changes(space, since, limit, collections, 0.0, room_wait,
                                       readable)
        if sub is not None and not self.guard.user_connections.enter(sub):
            raise self.guard.connection_refused()
        try:
            if not self.guard.long_polls.enter():  # full: answered as a plain pull
                return await self._changes(space, since, limit, collections, 0.0,
                                           room_wait, readable)
            try:
                return await self._changes(space, since, limit, collections, wait,
                                           room_wait, readable)
            finally:
                self.guard.long_polls.leave()
        finally:
            if sub is not None:
                self.guard.user_connections.leave(sub)

    async def _room(self, space: str, since: int, room_wait: float | None
                    ) -> tuple[int, SpaceHead | None]:
        """Bytes taken from the page pool for the next read (its byte limit), and the
        space's head when it was read instead: nothing after `since`, no room needed."""
        taken = self.guard.pages.try_take(self.settings.max_page_bytes)
        if taken is not None:
            return taken, None
        head = await self.storage.head(space)
        if head.seq <= since:
            return 0, head  # nothing to read (a quiet or never-written space)
        try:
            async with asyncio.timeout(room_wait):
                return await self.guard.pages.take(self.settings.max_page_bytes), None
        except TimeoutError:
            raise SyncError(ErrorCode.SERVER_BUSY,
                            "the server holds its most pages for clients that have not read "
                            "them yet (SYNCSERVER_MAX_PAGES_IN_FLIGHT_BYTES): retry later",
                            retry_after=FULL_RETRY_AFTER_SECONDS) from None

    def reading(self, access: Access | None, space: str,
                collections: list[str] | None) -> Readable | None:
        """What `access` may be sent of `space` (None: everything), or 403 forbidden for a
        `collections` filter naming a collection its roles hide (guard/roles.py)."""
        return self.roles.reading(access, space, collections)

    async def _changes(self, space: str, since: int, limit: int,
                       collections: list[str] | None, wait: float,
                       room_wait: float | None, readable: Readable | None) -> ChangesPage:
        deadline = time.monotonic() + wait
        while True:
            # Only a long-poll takes the space's wake-up event, and gives it back when done
            # (a never-written space keeps no state once nobody waits on it).
            woken = self.notifier.next_publish(space) if wait > 0 else None
            taken = 0
            try:
                taken, known = await self._room(space, since, room_wait)
                if known is not None:  # an empty page, without a second read
                    page, head = Page(b"", 0, max(known.seq, since), False), known
                else:
                    async with self.guard.reading:
                        page, head = await self.storage.changes(space, since, limit,
                                                                collections, taken, readable)
                if since > head.seq:
                    raise SyncError(ErrorCode.RESYNC_REQUIRED,
                                    f"the cursor is ahead of space {space!r} (at {head.seq}): "
                                    "the server lost data since; drop local data and pull "
                                    "from the empty cursor")
                if 0 < since < head.horizon:
                    raise SyncError(ErrorCode.RESYNC_REQUIRED,
                                    f"the cursor is behind the compaction horizon of space "
                                    f"{space!r}: drop local data and pull from the empty "
                                    "cursor")
                remaining = deadline - time.monotonic()
                # Stopping: answer what there is now (an empty page keeps the cursor)
                # rather than hold the shutdown for up to max_wait.
                if woken is None or page.count or remaining <= 0 or self.notifier.closing:
                    self.metrics.changes_served.inc(page.count)
                    held = min(len(page.changes), taken)  # (one change may pass the limit)
                    self.guard.pages.give_back(taken - held)
                    taken = 0
                    return ChangesPage(page.changes, page.count,
                                       self.cursors.encode(space, page.last_seq), page.more,
                                       held)
                since = page.last_seq  # changes of other collections moved the feed on
                self.guard.pages.give_back(taken)
                taken = 0
                with self.metrics.long_polls_waiting.track_inprogress():
                    await self.notifier.wait(woken, remaining)
            finally:
                self.guard.pages.give_back(taken)  # a failure: nothing is held
                if woken is not None:
                    self.notifier.done(space, woken)

    # -- conflicts -------------------------------------------------------------------

    async def list_conflicts(self, filters: dict[str, str], after: int, limit: int,
                             access: Access | None = None) -> bytes:
        spaces = None
        restricted: dict[str, Readable] = {}  # spaces whose records the roles hide some of
        if access is not None:  # scoped in the query to the spaces the token reads
            if filters.get("space"):
                access.require_read(filters["space"])
                self.roles.reading(access, filters["space"],
                                   [filters["collection"]] if filters.get("collection")
                                   else None)
            spaces = access.readable()
            if self.roles.reads:
                for space in spaces:
                    readable = self.roles.readable(access, space)
                    if readable is not None:
                        restricted[space] = readable
        rows = await self.storage.conflicts(filters, after, limit + 1, spaces,
                                            restricted or None)
        more = len(rows) > limit
        rows = rows[:limit]
        return orjson.dumps({"conflicts": [conflicts.wire(r) for r in rows], "more": more,
                             "next": rows[-1]["id"] if rows else after})

    async def resolve_conflict(self, conflict_id: int, body: object,
                               access: Access | None = None) -> bytes:
        resolution = conflicts.parse_resolution(body)
        answer, result = await self.storage.write(
            lambda txn: conflicts.resolve(txn, conflict_id, resolution, self.clock,
                                          self.settings.max_record_bytes,
                                          self.settings.max_depth, access,
                                          self.admission,
                                          self.roles if self.roles.reads or self.roles.writes
                                          else None))
        self._publish(result)
        return orjson.dumps(answer)

    def _publish(self, result: BatchResult, client_id: str | None = None,
                 sub: str | None = None) -> None:
        new = result.new
        for space, records in result.changed.items():
            head = result.heads[space]
            self.notifier.publish(space, head - len(records), head, records)
            self.notifier.committed(space, head, client_id, sub, new.get(space) if new else None)

    def encode_cursor(self, space: str, seq: int) -> str:
        return self.cursors.encode(space, seq)


