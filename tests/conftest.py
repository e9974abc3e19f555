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
# And single tests measured at over half a second (tests/slow_tests.txt, written from a run's
# JUnit report by scripts/slow-tests): what keeps the inner loop under two minutes.
SLOW_TESTS = frozenset(
    line.split("#", 1)[0].strip()
    for line in (TESTS / "slow_tests.txt").read_text().splitlines()) - {""}


# Parallel runs (pytest-xdist, `-n`; scripts/test): every test makes its own server on a
# port free at the time (tests/server.py), its own SQLite files and nginx folders (tmp_path),
# its own PostgreSQL databases (tests/pg.py, named after the worker) and Chromium profiles,
# so tests run beside each other on any number of workers. Except those marked `serial`:
# a test whose verdict is a bound on time or on resources that a busy neighbour moves
# (a latency, a wait measured against a timeout, a memory peak, a file-descriptor limit,
# a load-tool run judged by its rates) and that failed beside other tests, or that
# would take a long stretch of every worker's CPU. Marked by evidence, each with the reason:
# only a test seen to fail, or to slow others, when run beside others. They never run
# on a worker: under `-n` they are deselected, and scripts/test runs them afterwards in
# one process with `--serial-only` (or by hand: `pytest -m serial`).
SERIAL_ONLY = "--serial-only"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(SERIAL_ONLY, action="store_true",
                     help="run only the tests marked serial (scripts/test runs them alone, "
                          "after the parallel run)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS):
            if item.path.relative_to(TESTS).parts[0] in SLOW_FAMILIES \
                    or item.nodeid in SLOW_TESTS:
                item.add_marker(pytest.mark.slow)
    only_serial = config.getoption(SERIAL_ONLY)
    if only_serial or on_a_worker(config):
        keep, drop = [], []
        for item in items:
            (keep if bool(item.get_closest_marker("serial")) == only_serial else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        if on_a_worker(config):  # told to the controller: pytest_testnodedown
            config.workeroutput["serial_left_out"] = len(drop)  # type: ignore[attr-defined]


def on_a_worker(config: pytest.Config) -> bool:
    """A pytest-xdist worker: a test runs beside the other workers' tests here."""
    return hasattr(config, "workerinput")


SERIAL_LEFT_OUT = pytest.StashKey[int]()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """A worker is done (pytest-xdist's hook): how many serial tests it left out. Every
    worker collects the same tests, so the last one's count is the run's."""
    node.config.stash[SERIAL_LEFT_OUT] = node.workeroutput.get("serial_left_out", 0)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    left_out = config.stash.get(SERIAL_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} test{'s' * (left_out != 1)} marked serial left out of this parallel run: "
            "`pytest --serial-only` (with the same arguments) runs them alone; scripts/test "
            "does", yellow=True)


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
