"""PostgreSQL trouble answers 503 storage_unavailable (never a 500, never the driver's text),
and the storage recovers by itself once the database answers again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from syncserver.model.errors import ErrorCode, SyncError
from syncserver.storage.migrate import upgrade
from syncserver.storage.postgres.backend import PostgresStorage
from syncserver.storage.postgres.transaction import PostgresTransaction
from tests.helpers import assert_problem, wait_for
from tests.pg import admin_url
from tests.server import ServerProcess


def _backends(url: str, action: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        if action == "refuse":
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
                sql.Identifier(str(name))))
        elif action == "allow":
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                sql.Identifier(str(name))))
        if action in ("refuse", "kill"):
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _bump(txn: PostgresTransaction) -> str | None:
    txn.set_meta("k", "v")
    return txn.get_meta("k")


def test_connections_killed_between_writes_are_replaced(postgres_url: str) -> None:
    upgrade(postgres_url)

    async def scenario() -> None:
        storage = PostgresStorage(postgres_url, pool_size=2)
        await storage.open()
        try:
            assert await storage.write(_bump) == "v"
            _backends(postgres_url, "kill")  # e.g. a restart, an idle timeout
            assert await storage.write(_bump) == "v"  # retried once on a new connection
            assert await storage.health() is None
        finally:
            await storage.close()

    asyncio.run(scenario())


def test_a_database_that_refuses_connections_answers_503_then_recovers(
        postgres_url: str) -> None:
    upgrade(postgres_url)

    async def scenario() -> None:
        storage = PostgresStorage(postgres_url, pool_size=2, connect_timeout=2)
        await storage.open()
        try:
            _backends(postgres_url, "refuse")
            with pytest.raises(SyncError) as read:
                await storage.changes("s1", 0, 10, None)
            assert read.value.code == ErrorCode.STORAGE_UNAVAILABLE
            # A read's failure is reported as SQLite's are (storage/health.py), and lasts
            # while that read fails.
            problem = await storage.health()
            assert problem is not None and problem.operation == "read"
            assert problem.kind in ("no_connection", "unreachable"), problem
            assert problem.count >= 2  # run again by the check: it still fails
            with pytest.raises(SyncError) as write:
                await storage.write(_bump)
            assert write.value.code == ErrorCode.STORAGE_UNAVAILABLE
            assert write.value.status == 503 and write.value.extra["retry_after"] > 0
            for error in (write.value, read.value):  # no host, user or database names
                assert "syncserver_test" not in error.detail
                assert "127.0.0.1" not in error.detail and "postgres" not in error.detail
            problem = await storage.health()
            assert problem is not None and problem.operation == "write"
            assert "syncserver_test" not in str(problem.body())
            _backends(postgres_url, "allow")
            assert await storage.write(_bump) == "v"
            assert await storage.health() is None
        finally:
            _backends(postgres_url, "allow")
            await storage.close()

    asyncio.run(scenario())


def test_healthz_of_a_server_on_postgresql_reports_what_reads_meet_then_recovers(
        postgres_url: str, tmp_path: Path) -> None:
    """The same /healthz body as on SQLite (tests/core/test_damaged_database.py)."""
    server = ServerProcess(postgres_url, log=tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            _backends(postgres_url, "refuse")
            assert_problem(c.get("/v1/changes", params={"space": "s1"}), 503,
                           "storage_unavailable")
            health = c.get("/healthz")
            assert health.status_code == 503 and int(health.headers["retry-after"]) > 0
            body = health.json()
            assert body["status"] == "unavailable"
            assert body["error"]["operation"] == "read", body
            assert body["error"]["kind"] in ("no_connection", "unreachable"), body
            assert "syncserver_test" not in health.text
            _backends(postgres_url, "allow")
            wait_for(lambda: c.get("/healthz").status_code == 200, timeout=20)
    finally:
        _backends(postgres_url, "allow")
        server.stop()
