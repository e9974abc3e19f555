"""The fan-out between instances (syncserver/storage/postgres/fanout.py) in one process, on
a real PostgreSQL: a Fanout with its Notifier stands for one instance, other PostgresStorage
objects on the same database for the others, writing through the real push code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg

from syncserver.config.metrics import Metrics
from syncserver.config.settings import Settings
from syncserver.core.notifier import Notifier, Published
from syncserver.core.service import SyncService
from syncserver.guard.guard import Guard
from syncserver.storage.factory import prepare
from syncserver.storage.postgres.backend import PostgresStorage
from tests.helpers import wait_for_async
from tests.storage.support import push, put


class Instance:
    def __init__(self, url: str, interval: float) -> None:
        self.storage = PostgresStorage(url, pool_size=2)
        self.notifier = Notifier()
        self.metrics = Metrics()
        self.fanout = self.storage.fanout(self.notifier, self.metrics, interval, chunk=1000)
        self.seen: list[Published] = []  # publishes with changes
        self.notices: list[Published] = []  # without (prev == head): "read your gap"

    def subscribe(self, space: str) -> None:
        self.notifier.listen(space, self._published)

    def _published(self, p: Published) -> None:
        (self.seen if p.rows else self.notices).append(p)

    def metric(self, name: str) -> float:
        registry = self.metrics.registry  # a counter's sample is name_total
        return registry.get_sample_value(name) or registry.get_sample_value(name + "_total") \
            or 0.0

    async def until(self, check: Any, timeout: float = 5.0, what: str = "condition") -> None:
        await wait_for_async(check, timeout, what=what)

    def changes(self) -> list[tuple[str, int]]:
        return [(r[2], r[4]) for p in self.seen for r in p.rows]


@asynccontextmanager
async def instance(url: str, interval: float = 3600.0) -> AsyncIterator[Instance]:
    prepare(Settings(db=url), migrate=True).release()
    inst = Instance(url, interval)
    await inst.storage.open()
    inst.fanout.start()
    try:
        await inst.until(lambda: inst.metric("syncserver_fanout_listening") == 1)
        yield inst
    finally:
        await inst.fanout.stop()
        await inst.storage.close()


@asynccontextmanager
async def writer(url: str, instance_id: str | None = None) -> AsyncIterator[PostgresStorage]:
    storage = PostgresStorage(url, pool_size=2)
    if instance_id is not None:  # its notifications look like the listener's own: "lost"
        storage.instance_id = instance_id
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


def test_a_write_of_another_instance_is_read_once_and_published(postgres_url: str) -> None:
    async def main() -> None:
        async with instance(postgres_url) as b, writer(postgres_url) as a:
            b.subscribe("s1")
            await push(a, "c1", [put(1, "x"), put(2, "y"), put(3, "x", base=1)])
            await push(a, "c1", [put(4, "z", space="other")])  # not served here
            await b.until(lambda: len(b.seen) == 1)
            p = b.seen[0]
            assert (p.space, p.prev, p.head) == ("s1", 0, 3)
            assert [(r[2], r[4]) for r in p.rows] == [("y", 2), ("x", 3)]
            assert orjson.loads(p.rows[1][10])["version"] == 2
            await push(a, "c1", [put(5, "w")])
            await b.until(lambda: len(b.seen) == 2)
            assert (b.seen[1].prev, b.seen[1].head) == (3, 4)
            assert b.metric("syncserver_fanout_notifications") == 3
            assert b.metric("syncserver_fanout_ranges_read") == 2

    asyncio.run(main())


def test_notifications_for_one_space_are_read_as_one_range(postgres_url: str) -> None:
    async def main() -> None:
        async with instance(postgres_url) as b:
            async with writer(postgres_url, b.storage.instance_id) as a:
                for i in range(1, 4):
                    await push(a, "c1", [put(i, f"r{i}")])
            b.subscribe("s1")
            with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
                for prev in range(3):  # delivered together, at commit
                    conn.execute("SELECT pg_notify('syncserver_changes', %s)", (orjson.dumps(
                        {"i": "elsewhere", "s": "s1", "p": prev, "h": prev + 1}).decode(),))
            await b.until(lambda: b.metric("syncserver_fanout_notifications") == 3)
            await b.until(lambda: len(b.seen) == 1)
            # Every notification was taken in before that publish (the counter), and a range
            # is read from what was last published here: nothing more can come of them.
            assert [(p.prev, p.head) for p in b.seen] == [(0, 3)]
            assert b.changes() == [("r1", 1), ("r2", 2), ("r3", 3)]
            assert b.metric("syncserver_fanout_ranges_read") == 1

    asyncio.run(main())


def test_a_lost_notification_only_delays_the_change(postgres_url: str) -> None:
    async def main() -> None:
        for interval in (3600.0, 0.2):
            async with instance(postgres_url, interval) as b:
                b.subscribe("s1")
                if interval < 1:  # the first check marks where the space stands
                    await b.until(lambda: len(b.notices) == 1)
                async with writer(postgres_url, b.storage.instance_id) as a:
                    space_head = (await a.head("s1")).seq
                    await push(a, "c1", [put(space_head + 1, "lost", base=space_head)])
                if interval < 1:
                    await b.until(lambda: len(b.seen) == 1)
                    assert b.changes() == [("lost", 2)]
                    assert b.metric("syncserver_fanout_behind") == 1
                else:  # the notification looked like b's own: nothing until a check
                    # A later one, from another instance, is taken in after it: then the
                    # lost one was dropped as b's own (not counted), and nothing was read.
                    with psycopg.connect(postgres_url, autocommit=True) as conn:
                        conn.execute("SELECT pg_notify('syncserver_changes', %s)", (
                            orjson.dumps({"i": "elsewhere", "s": "unserved", "p": 0,
                                          "h": 1}).decode(),))
                    await b.until(lambda: b.metric("syncserver_fanout_notifications") >= 1)
                    assert b.metric("syncserver_fanout_notifications") == 1
                    assert b.seen == [] and b.metric("syncserver_fanout_ranges_read") == 0

    asyncio.run(main())


def test_a_reader_of_the_feed_does_not_hide_a_change_from_a_listener(
        postgres_url: str) -> None:
    """A pull that reads the feed before a notification is handled must not make the
    instance skip that notification: a WebSocket subscriber there waits for it."""
    async def main() -> None:
        async with instance(postgres_url) as b, writer(postgres_url) as a:
            settings = Settings(db=postgres_url, auth="none")
            service = SyncService(settings, b.storage, b.metrics, Guard(settings, b.metrics))
            service.notifier = b.notifier  # the instance's pulls, beside its listener
            b.subscribe("s1")
            await b.fanout.stop()  # the notification is handled after the pull, below
            await push(a, "c1", [put(1, "x")])
            assert (await service.changes("s1", None, 100, None)).count == 1
            b.fanout.start()
            await b.until(lambda: b.metric("syncserver_fanout_checks") == 1)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("SELECT pg_notify('syncserver_changes', %s)", (orjson.dumps(
                    {"i": a.instance_id, "s": "s1", "p": 0, "h": 1}).decode(),))
            # Told: the change itself, or a notice to read it (the check after connecting).
            await b.until(lambda: any(p.head >= 1 for p in b.seen + b.notices))

    asyncio.run(main())


def test_malformed_notifications_are_ignored(postgres_url: str) -> None:
    async def main() -> None:
        async with instance(postgres_url) as b, writer(postgres_url) as a:
            b.subscribe("s1")
            bad = ["", "not json", "[]", '{"i": "x"}', '{"i": 1, "s": "s1", "p": 0, "h": 1}',
                   '{"i": "x", "s": "bad space!", "p": 0, "h": 1}',
                   '{"i": "x", "s": "s1", "p": 5, "h": 5}',
                   '{"i": "x", "s": "s1", "p": -1, "h": 2}',
                   '{"i": "x", "s": "s1", "p": 0, "h": 1.5}']
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                for payload in bad:
                    conn.execute("SELECT pg_notify('syncserver_changes', %s)", (payload,))
            await b.until(lambda: b.metric("syncserver_fanout_malformed") == len(bad))
            await push(a, "c1", [put(1, "after")])
            await b.until(lambda: len(b.seen) == 1)
            assert b.changes() == [("after", 1)]

    asyncio.run(main())


def test_the_listener_reconnects_and_catches_up(postgres_url: str) -> None:
    async def main() -> None:
        async with instance(postgres_url) as b, writer(postgres_url) as a:
            b.subscribe("s1")
            await b.fanout.check()  # marks where the space stands (a notice, no rows)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "datname = current_database() AND query LIKE 'LISTEN%%'").fetchall()
            assert killed == [(True,)]
            await b.until(lambda: b.metric("syncserver_fanout_listening") == 0)
            # Written while nobody listens: its notification is gone for good.
            await push(a, "c1", [put(1, "meanwhile")])
            await b.until(lambda: b.metric("syncserver_fanout_reconnects") == 1)
            await b.until(lambda: len(b.seen) == 1)  # the check after reconnecting
            await push(a, "c1", [put(2, "after")])
            await b.until(lambda: len(b.seen) == 2)
            assert b.changes() == [("meanwhile", 1), ("after", 2)]

    asyncio.run(main())
