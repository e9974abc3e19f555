"""Web Push subscriptions through the storage interface, on SQLite and PostgreSQL (the
shared suite's `backend`): save, replace, read by space and by device, delete, the
per-user cap, a client id of another user, and the version an index reloads on."""

from __future__ import annotations

from typing import Any

from syncserver.storage.push_subscriptions import FULL, NOT_YOURS, SAVED, PushSubscriptionRow
from tests.storage.support import Backend


def row(sub: str, client_id: str, spaces: tuple[str, ...], endpoint: str = "https://p/1"
        ) -> PushSubscriptionRow:
    return PushSubscriptionRow(sub, client_id, endpoint, "k", "a", spaces, 1, 2)


def test_subscriptions_are_saved_replaced_read_and_deleted(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        assert await s.push_spaces() == (None, set())
        assert await s.save_push_subscription(row("alice", "c1", ("a", "b")), 5) == SAVED
        assert await s.save_push_subscription(row("bob", "c2", ("b",)), 5) == SAVED
        version, spaces = await s.push_spaces()
        assert spaces == {"a", "b"} and version == await s.push_version()
        assert [r.client_id for r in await s.push_subscriptions("b")] == ["c1", "c2"]
        # registering again replaces the endpoint and the spaces
        again = row("alice", "c1", ("c",), endpoint="https://p/2")
        assert await s.save_push_subscription(again, 5) == SAVED
        assert await s.push_version() != version
        assert [r.client_id for r in await s.push_subscriptions("b")] == ["c2"]
        [c1] = await s.push_subscriptions("c")
        assert (c1.endpoint, c1.created_at) == ("https://p/2", 1)
        kept = await s.push_subscription("alice", "c1")
        assert kept is not None and kept.spaces == ("c",)
        # a 410 for the old endpoint does not remove the new registration
        assert not await s.delete_push_subscription("alice", "c1", "https://p/1")
        assert await s.delete_push_subscription("alice", "c1", "https://p/2")
        assert await s.push_subscription("alice", "c1") is None
        assert not await s.delete_push_subscription("alice", "c1")
        assert (await s.push_spaces())[1] == {"b"}

    backend.run(scenario)


def test_the_per_user_cap_and_bound_client_ids_store_nothing(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        await s.write(lambda txn: txn.bind_client("bobs-phone", "bob", 1))
        assert await s.save_push_subscription(row("alice", "bobs-phone", ("a",)), 5) \
            == NOT_YOURS
        assert await s.save_push_subscription(row("bob", "bobs-phone", ("a",)), 5) == SAVED
        assert await s.save_push_subscription(row("alice", "c1", ("a",)), 1) == SAVED
        assert await s.save_push_subscription(row("alice", "c1", ("b",)), 1) == SAVED
        assert await s.save_push_subscription(row("alice", "c2", ("a",)), 1) == FULL
        assert [r.sub for r in await s.push_subscriptions("a")] == ["bob"]
        assert (await s.push_spaces())[1] == {"a", "b"}

    backend.run(scenario)
