"""The PostgreSQL fixtures (tests/pg.py): a fresh database per test, dropped afterwards even
with connections left open; where no PostgreSQL answers, a skip with the reason, and in CI
a failure instead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests import pg
from tests.server import REPO

PROBE = '''
def test_uses_postgres(postgres_url):
    assert postgres_url
'''


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: a connection to it is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def _run_probe(tmp_path: Path, port: int, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "from tests.pg import postgres_url  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(REPO),
               SYNCSERVER_TEST_PG=f"postgresql://postgres@127.0.0.1:{port}/postgres")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False)


def test_without_postgres_a_case_skips_and_says_why(tmp_path, closed_port):
    done = _run_probe(tmp_path, closed_port, ci=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout, done.stdout
    assert f"no PostgreSQL answers at postgresql://postgres@127.0.0.1:{closed_port}" \
        in done.stdout, done.stdout


def test_without_postgres_in_ci_a_case_fails_rather_than_skips(tmp_path, closed_port):
    done = _run_probe(tmp_path, closed_port, ci="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout and "skipped" not in done.stdout, done.stdout
    assert "CI must run the PostgreSQL cases" in done.stdout, done.stdout


def test_each_test_gets_a_fresh_empty_database(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                              ).fetchone()
        name = conn.execute("SELECT current_database()").fetchone()
    assert tables == (0,)
    assert name is not None and name[0].startswith(pg.PREFIX)
    assert postgres_url.startswith("postgresql://")


def test_a_database_is_dropped_even_with_connections_left_open():
    admin = pg.require_postgres()
    url = pg.create_database(admin)
    left_open = psycopg.connect(url)  # a killed server's session, a pool never closed
    left_open.execute("CREATE TABLE t (x int)")
    try:
        pg.drop_database(admin, url)
        assert not pg.database_exists(url)
    finally:
        left_open.close()
