"""Fixtures of the sync-core tests: one real server per module where tests can share it
(each test then works in its own space), a fresh one per test where a test needs its own
settings or kills the process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("core") / "sync.db").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def space() -> str:
    """A space of its own for each test, so tests can share a server."""
    return "sp-" + uuid.uuid4().hex[:12]


@pytest.fixture
def db_path(shared_server: ServerProcess) -> Path:
    return shared_server.db


LIMITS = {"SYNCSERVER_MAX_BATCH_MUTATIONS": "10", "SYNCSERVER_MAX_BATCH_BYTES": "20000",
          "SYNCSERVER_MAX_RECORD_BYTES": "1000", "SYNCSERVER_MAX_PAGE": "50",
          "SYNCSERVER_MAX_WAIT": "5", "SYNCSERVER_MAX_PULL_SPACES": "3"}


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small limits (LIMITS), for oversized input."""
    server = ServerProcess(tmp_path_factory.mktemp("limited") / "sync.db", env=LIMITS).start()
    yield server
    server.stop()
