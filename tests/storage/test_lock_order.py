"""The lock order the core keeps on every backend (docs/deployment.md, "locks"): a push and a
conflict resolution take their locks before they read, through a recording wrapper around
the backend's real transaction."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from syncserver.core import conflicts
from syncserver.guard.permissions import Access
from syncserver.model.hlc import Clock
from syncserver.model.policies import PolicyTable
from syncserver.storage.base import PushTransaction
from tests.storage.support import MANUAL, Backend, apply, batch, push, put


class Recording:
    """The backend's own transaction, with the calls made to it recorded in order."""

    def __init__(self, txn: PushTransaction, calls: list[tuple[str, Any]]) -> None:
        self._txn, self._calls = txn, calls

    def lock(self, client_id: str | None, spaces: Iterable[str]) -> None:
        spaces = list(spaces)
        self._calls.append(("lock", (client_id, sorted(set(spaces)))))
        self._txn.lock(client_id, spaces)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._txn, name)

        def call(*args: Any) -> Any:
            self._calls.append((name, args))
            return method(*args)
        return call


def test_a_push_takes_its_locks_before_it_reads(backend: Backend) -> None:
    calls: list[tuple[str, Any]] = []
    raw = batch("c1", put(1, "x", space="b"), put(2, "y", space="a"), put(3, "z", space="c"),
                put(4, "w", space="a"))

    async def scenario(s: Any) -> None:
        await s.write(lambda txn: apply(
            Recording(txn, calls), "c1", raw, Clock(60_000),  # type: ignore[arg-type]
            PolicyTable(), may_write=lambda space: space != "c", owner="alice"))

    backend.run(scenario)
    assert calls[0] == ("lock", ("c1", ["a", "b"]))  # client, then spaces; "c" is forbidden
    assert [name for name, _ in calls[1:3]] == ["client_owner", "bind_client"]
    assert [name for name, _ in calls].count("lock") == 1


def test_resolving_a_conflict_locks_its_space_before_reading_the_record(
        backend: Backend) -> None:
    calls: list[tuple[str, Any]] = []

    async def scenario(s: Any) -> None:
        await push(s, "c1", [put(1, "a", collection="notes")], MANUAL)
        results = await push(s, "c2", [put(1, "a", collection="notes")], MANUAL)
        conflict_id = results[0]["conflict_id"]
        listed = await s.conflicts({"status": "open"}, 0, 10)
        assert [row["id"] for row in listed] == [conflict_id]
        assert await s.conflicts({}, 0, 10, spaces=[]) == []
        assert await s.conflicts({}, 0, 10, spaces=["other"]) == []
        answer, out = await s.write(lambda txn: conflicts.resolve(
            Recording(txn, calls), conflict_id, {"accept": "client"},  # type: ignore[arg-type]
            Clock(60_000), 1 << 20, access=Access("alice", time.time() + 60, {"s1": "rw"})))
        assert answer["status"] == "resolved" and out.heads == {"s1": 2}
        assert await s.conflicts({"status": "open"}, 0, 10) == []

    backend.run(scenario)
    assert [name for name, _ in calls[:3]] == ["load_conflict", "lock", "load_record"]
    assert calls[1] == ("lock", (None, ["s1"]))
