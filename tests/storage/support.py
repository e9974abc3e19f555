"""The shared storage suite's helpers (Kinto's model): every case runs on each backend,
through the storage interface only (storage/base.py), with the real push and conflict code
writing through it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from syncserver.config.settings import Settings
from syncserver.core import conflicts
from syncserver.core.push import BatchResult, apply_batch
from syncserver.model.hlc import Clock
from syncserver.model.mutations import Mutation, Rejection, parse_mutation
from syncserver.model.policies import Policy, PolicyTable
from syncserver.storage.base import PushTransaction, Storage
from syncserver.storage.factory import open_storage
from tests.helpers import mutation, stamped_by

MAX_RECORD = 1 << 20


class Backend:
    """A database of one backend, and storages opened on it (several for PostgreSQL:
    as many server instances)."""

    def __init__(self, kind: str, db: str) -> None:
        self.kind = kind
        self.db = db

    def storage(self, pool_size: int = 4) -> Storage:
        return open_storage(Settings(db=self.db, postgres_pool_size=pool_size))

    def run(self, scenario: Callable[..., Awaitable[Any]], instances: int = 1) -> Any:
        """`scenario(*storages)` with `instances` storages opened on the database."""
        async def main() -> Any:
            opened = [self.storage() for _ in range(instances)]
            await asyncio.gather(*(s.open() for s in opened))
            try:
                return await scenario(*opened)
            finally:
                for s in opened:
                    await s.close()
        return asyncio.run(main())


def batch(client_id: str, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    return stamped_by(client_id, list(mutations))


def put(mid: int, record_id: str, data: Any = None, base: int = 0, space: str = "s1",
        collection: str = "todos") -> dict[str, Any]:
    return mutation(mid, record_id, data=data, base=base, space=space, collection=collection)


def delete(mid: int, record_id: str, base: int, space: str = "s1",
           collection: str = "todos") -> dict[str, Any]:
    return mutation(mid, record_id, op="delete", base=base, space=space, collection=collection)


def apply(txn: PushTransaction, client_id: str, raw: list[dict[str, Any]], clock: Clock,
          policies: PolicyTable, may_write: Callable[[str], bool] | None = None,
          owner: str | None = None) -> BatchResult:
    """push.apply_batch as the server calls it (it takes the batch's locks first)."""
    items: list[Mutation | Rejection] = [parse_mutation(m, MAX_RECORD) for m in raw]
    return apply_batch(txn, client_id, items, clock, policies, MAX_RECORD, may_write, owner)


async def push(storage: Storage, client_id: str, raw: list[dict[str, Any]],
               policies: PolicyTable | None = None, clock: Clock | None = None
               ) -> list[dict[str, Any]]:
    """Apply a batch as the server does; its results, parsed."""
    clock = clock or Clock(60_000)
    table = policies or PolicyTable()
    result: BatchResult = await storage.write(
        lambda txn: apply(txn, client_id, stamped_by(client_id, raw), clock, table))
    return [orjson.loads(r) for r in result.results]


async def resolve(storage: Storage, conflict_id: int, resolution: dict[str, Any]) -> Any:
    clock = Clock(60_000)
    return await storage.write(
        lambda txn: conflicts.resolve(txn, conflict_id, resolution, clock, MAX_RECORD))


async def feed(storage: Storage, space: str, since: int = 0, limit: int = 1000,
               collections: list[str] | None = None) -> list[dict[str, Any]]:
    """Every change of `space` after `since`, page by page."""
    out: list[dict[str, Any]] = []
    while True:
        page, _head = await storage.changes(space, since, limit, collections)
        out.extend(orjson.loads(b"[" + page.changes + b"]"))
        since = page.last_seq
        if not page.more:
            return out


MANUAL = PolicyTable(by_collection={"notes": Policy.MANUAL})
