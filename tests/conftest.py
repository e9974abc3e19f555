"""Shared fixtures: a real server process per test (or module), plain HTTP clients."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.pg import any_db, postgres_module_url, postgres_url  # noqa: F401  (fixtures)
from tests.server import ServerProcess

TESTS = Path(__file__).resolve().parent
# Whole families under tests/ that `-m "not slow"` (scripts/test --fast) leaves out: Chromium
# through the demo, the load tool's runs, several server instances on PostgreSQL, building
# and installing the wheel. Marked here by path rather than test by test, so that a new test
# in one of them is slow without being told.
SLOW_FAMILIES = {"browser", "load", "postgres", "packaging"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS):
            if item.path.relative_to(TESTS).parts[0] in SLOW_FAMILIES:
                item.add_marker(pytest.mark.slow)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start servers on fresh ports: server_factory(db=..., demo=..., env=..., args=...)."""
    started: list[ServerProcess] = []

    def start(db: Path | None = None, demo: bool = False,
              env: dict[str, str] | None = None, port: int | None = None,
              args: tuple[str, ...] = ()) -> ServerProcess:
        server = ServerProcess(db or tmp_path / "sync.db", port=port, demo=demo, env=env,
                               args=args)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(server_factory) -> ServerProcess:
    """A real server on a free port with a fresh SQLite file (demo app off)."""
    return server_factory()


@pytest.fixture
def demo_server(server_factory) -> ServerProcess:
    """A real server serving the demo PWA at / and the client library at /sync/."""
    return server_factory(demo=True)


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        yield c
