"""POST /v1/pull: the catch-up of many spaces in one round trip (docs/protocol.md).

One page budget for the whole request: `limit` changes and the bytes of one page
(SYNCSERVER_MAX_PAGE_BYTES) over all its spaces together, charged to the page pool as one
GET /v1/changes page is, and held until the client took the answer. Spaces are read in the
order given, each from its own cursor; the heads of all of them are read first, in one
storage call, so that a quiet space (nothing after its cursor) costs no read of its own:
most spaces of a catch-up are quiet.

A space's failure is its own entry, never the request's: a space the token cannot read, a
`collections` filter naming a collection its roles hide there, a bad cursor, a cursor that
needs a resync. What the roles leave the reader of a space is read in SQL, as by a page of
GET /v1/changes (storage/reading.py). One revoked space does not keep a client from
catching up on the others.

No long-poll here: the WebSocket is the live path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson

from ..guard.limits import FULL_RETRY_AFTER_SECONDS
from ..guard.permissions import Access, forbidden_space
from ..model.errors import ErrorCode, SyncError
from ..storage.reading import Readable
from .service import ChangesPage, SyncService


@dataclass
class PullRequest:
    cursors: dict[str, str | None]  # space -> cursor ("" or None: from the start), in order
    limit: int
    collections: list[str] | None


@dataclass
class MultiPage:
    """Each space's JSON value, in the order asked: a ChangesPage body or an error."""

    entries: dict[str, bytes] = field(default_factory=dict)
    more: bool = False
    held: int = 0  # bytes charged to the page pool: given back once the client took it

    def body(self) -> bytes:
        inner = b",".join(orjson.dumps(space) + b":" + entry
                          for space, entry in self.entries.items())
        return b'{"spaces":{' + inner + b'},"more":' + orjson.dumps(self.more) + b"}"


def failure(error: SyncError) -> bytes:
    """A space's entry for its failure; a resync's says the cursor to start over from."""
    problem: dict[str, object] = {"code": error.code.value, "detail": error.detail}
    if "collection" in error.extra:  # a filter naming a collection the roles hide
        problem["collection"] = error.extra["collection"]
    entry: dict[str, object] = {"error": problem}
    if error.code is ErrorCode.RESYNC_REQUIRED:
        entry["cursor"] = ""
    return orjson.dumps(entry)


async def pull(service: SyncService, request: PullRequest, access: Access | None,
               room_wait: float | None) -> MultiPage:
    """The pages of `request`'s spaces (see the module docstring). `room_wait`: the longest
    wait for room in the page pool (503 server_busy past it)."""
    answer = MultiPage()
    since: dict[str, int] = {}  # the spaces to answer with a page, and their cursors
    readable: dict[str, Readable] = {}  # what the reader's roles leave it, where restricted
    for space, cursor in request.cursors.items():
        answer.entries[space] = b""  # its place, in the order asked
        try:
            if access is not None and not access.can_read(space):
                raise forbidden_space(space)
            restricted = service.reading(access, space, request.collections)
            if restricted is not None:
                readable[space] = restricted
            since[space] = service.cursors.decode(space, cursor)
        except SyncError as exc:  # bad_cursor, resync_required (another epoch)
            answer.entries[space] = failure(exc)
    heads = await service.storage.heads(list(since)) if since else {}
    busy = []  # spaces with changes after their cursor, in the order asked
    for space, seq in since.items():
        head = heads.get(space, 0)
        if seq > head:
            answer.entries[space] = failure(_ahead(space, head))
        elif seq == head:  # quiet: its cursor stands, nothing to read
            answer.entries[space] = _page(service, space, b"", 0, seq, False)
        else:
            busy.append(space)
    if busy:
        await _read(service, request, busy, since, readable, answer, room_wait)
    return answer


async def _read(service: SyncService, request: PullRequest, busy: list[str],
                since: dict[str, int], readable: dict[str, Readable], answer: MultiPage,
                room_wait: float | None) -> None:
    """Pages of the `busy` spaces into `answer`, in order, until the budget is spent; the
    spaces it did not reach keep their cursor, with `more`."""
    taken = await _room(service, room_wait)
    used = count = reached = 0  # bytes and changes in pages; busy spaces answered
    more = False  # the last page read was cut short by the budget
    try:
        for space in busy:
            if more or count >= request.limit or used >= taken:
                break
            async with service.guard.reading:
                page, head = await service.storage.changes(
                    space, since[space], request.limit - count, request.collections,
                    taken - used, readable.get(space))
            if 0 < since[space] < head.horizon:
                answer.entries[space] = failure(SyncError(
                    ErrorCode.RESYNC_REQUIRED, f"the cursor is behind the compaction horizon "
                    f"of space {space!r}: drop local data and pull from the empty cursor"))
                reached += 1
                continue
            if used and used + len(page.changes) > taken:
                # One change past what is left: only a request's first change may pass
                # the budget (as a page's first does), so this space waits for the next.
                break
            used += len(page.changes)
            count += page.count
            more = page.more
            answer.entries[space] = _page(service, space, page.changes, page.count,
                                          page.last_seq, page.more)
            reached += 1
        for space in busy[reached:]:  # not reached: the cursor stands, and there is more
            answer.entries[space] = _page(service, space, b"", 0, since[space], True)
        answer.more = more or reached < len(busy)
        service.metrics.changes_served.inc(count)
        answer.held = min(used, taken)  # (one change may pass the budget)
        service.guard.pages.give_back(taken - answer.held)
        taken = 0
    finally:
        service.guard.pages.give_back(taken)  # a failure: nothing is held


def _page(service: SyncService, space: str, changes: bytes, count: int, seq: int,
          more: bool) -> bytes:
    return ChangesPage(changes, count, service.cursors.encode(space, seq), more).body()


def _ahead(space: str, head: int) -> SyncError:
    return SyncError(ErrorCode.RESYNC_REQUIRED,
                     f"the cursor is ahead of space {space!r} (at {head}): the server lost "
                     "data since; drop local data and pull from the empty cursor")


async def _room(service: SyncService, room_wait: float | None) -> int:
    """The request's byte budget, taken from the page pool (GET /v1/changes takes a page's
    the same way): a page's bytes, or less when the pool is nearly full."""
    wanted = service.settings.max_page_bytes
    taken = service.guard.pages.try_take(wanted)
    if taken is not None:
        return taken
    try:
        async with asyncio.timeout(room_wait):
            return await service.guard.pages.take(wanted)
    except TimeoutError:
        raise SyncError(ErrorCode.SERVER_BUSY,
                        "the server holds its most pages for clients that have not read "
                        "them yet (SYNCSERVER_MAX_PAGES_IN_FLIGHT_BYTES): retry later",
                        retry_after=FULL_RETRY_AFTER_SECONDS) from None
