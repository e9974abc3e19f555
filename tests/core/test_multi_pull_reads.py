"""What GET /v1/spaces and POST /v1/pull cost the storage and the page pool, in-process on a
real SQLite file with the real service (its storage counted by a wrapper that passes every
call through): the heads of all spaces in one read, a read only for a space with changes
after its cursor, and the pull's one page charged to the page pool as a GET /v1/changes
page is, held until the answer is taken, never when no room came."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncserver.config.metrics import Metrics
from syncserver.config.settings import Settings
from syncserver.core import multipull
from syncserver.core.service import SyncService
from syncserver.core.spaces import list_spaces
from syncserver.guard.permissions import Access
from syncserver.model.errors import ErrorCode, SyncError
from syncserver.storage.factory import open_storage, prepare
from tests.helpers import mutation, stamped_by


class Counted:
    """A storage whose calls are counted by name, each passed on to the real one."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._storage, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)
        return call


def run(tmp_path: Path, scenario: Callable[[SyncService, Counted], Awaitable[None]]) -> None:
    settings = Settings(db=str(tmp_path / "sync.db"), auth="none",
                        max_page_bytes=100_000, max_pages_in_flight_bytes=1_048_576)
    prepare(settings, migrate=True).release()

    async def main() -> None:
        service = SyncService(settings, open_storage(settings), Metrics())
        await service.start()
        try:
            counted = Counted(service.storage)
            await scenario(service, counted)
        finally:
            await service.stop()
    asyncio.run(main())


async def fill(service: SyncService, spaces: list[str]) -> None:
    batch = [mutation(i + 1, "r", space=s) for i, s in enumerate(spaces)]
    await service.push({"client_id": "c1", "mutations": stamped_by("c1", batch)})


def counting(service: SyncService, counted: Counted) -> None:
    counted.calls.clear()
    service.storage = counted  # type: ignore[assignment]


def test_spaces_reads_the_heads_of_every_granted_space_at_once(tmp_path: Path) -> None:
    async def scenario(service: SyncService, counted: Counted) -> None:
        names = [f"s{i:03d}" for i in range(300)]
        await fill(service, names[::3])
        counting(service, counted)
        access = Access("alice", time.time() + 60, dict.fromkeys(names, "r"))
        body = orjson.loads(await list_spaces(service.storage, access))
        assert [s["head"] for s in body["spaces"]] == [1, 0, 0] * 100
        assert counted.calls == {"heads": 1}, "one read for 300 spaces"
        counted.calls.clear()
        body = orjson.loads(await list_spaces(service.storage, None))
        assert len(body["spaces"]) == 100 and counted.calls == {"written_spaces": 1}

    run(tmp_path, scenario)


def test_a_pull_reads_only_the_spaces_with_changes_after_their_cursor(tmp_path: Path) -> None:
    async def scenario(service: SyncService, counted: Counted) -> None:
        names = [f"s{i:02d}" for i in range(50)]
        await fill(service, names)
        cursors: dict[str, str | None] = {s: service.encode_cursor(s, 1) for s in names}
        for busy in ("s07", "s21", "s42"):
            cursors[busy] = ""
        counting(service, counted)
        answer = await multipull.pull(service, multipull.PullRequest(cursors, 1000, None),
                                      None, room_wait=1)
        service.pages.give_back(answer.held)
        body = orjson.loads(answer.body())
        assert sum(len(p["changes"]) for p in body["spaces"].values()) == 3
        assert counted.calls == {"heads": 1, "changes": 3}, "47 quiet spaces: no read"

    run(tmp_path, scenario)


def test_a_pull_s_page_is_charged_to_the_pool_until_taken_and_waits_for_room(
        tmp_path: Path) -> None:
    async def scenario(service: SyncService, counted: Counted) -> None:
        await fill(service, ["a", "b"])
        pool = service.pages
        ask = multipull.PullRequest({"a": "", "b": ""}, 1000, None)
        answer = await multipull.pull(service, ask, None, room_wait=1)
        changes = orjson.loads(answer.body())["spaces"]
        sizes = [len(orjson.dumps(changes[s]["changes"][0])) for s in "ab"]
        assert answer.held == sum(sizes) == pool.used, "the changes, until taken"
        pool.give_back(answer.held)
        assert pool.used == 0
        # The pool full: a pull with changes to read waits, then 503, taking nothing; a
        # pull of quiet spaces needs no room and answers at once.
        everything = await pool.take(pool.capacity)
        with pytest.raises(SyncError) as refused:
            await multipull.pull(service, ask, None, room_wait=0.05)
        assert refused.value.code is ErrorCode.SERVER_BUSY
        assert pool.used == everything
        quiet = {s: service.encode_cursor(s, 1) for s in "ab"}
        answer = await multipull.pull(service, multipull.PullRequest(quiet, 1000, None),
                                      None, room_wait=0.05)
        assert answer.held == 0 and not orjson.loads(answer.body())["more"]
        pool.give_back(everything)
        assert pool.used == 0

    run(tmp_path, scenario)
