"""Finding replays costs in proportion to the batch (guarantees 2 and 12): whatever mids a
batch carries, and whatever mids earlier batches stored, the writer reads only the part of a
client's mutation log near the batch's own mids, and still finds every replay."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.storage.sqlite.transaction import SQLiteTransaction
from tests.helpers import mutation
from tests.server import REPO, ServerProcess

from .support import read_db

TOP = 2**63 - 1  # the highest mid there is
HISTORY = 1_000_000  # stored mutation results of the long-lived client


def _migrate(db: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", str(db)],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr


def _store_history(db: Path, client_id: str, count: int, per_batch: int = 1000) -> None:
    """`count` results of consecutive mids from 1, written through the storage's own write
    path (so in whatever row shape it stores batches), in one transaction: seconds, not the
    minutes that pushing them would take."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for start in range(1, count + 1, per_batch):
            txn = SQLiteTransaction(conn)
            txn.write_results(client_id, [
                (mid, b"old-fingerprint!", b'{"mid":%d,"status":"applied"}' % mid)
                for mid in range(start, min(start + per_batch, count + 1))], 1)
            txn.flush()
        conn.execute("COMMIT")
    finally:
        conn.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time the process has used (user + system): unlike the time a request takes, it
    does not grow when the machine is busy with other work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _push_costs(server: ServerProcess, client_id: str, mutations: list[dict]
                ) -> tuple[float, dict]:
    """The server's CPU seconds for one push, and its answer."""
    assert server.proc is not None
    before = _cpu_seconds(server.proc.pid)
    response = httpx.post(f"{server.url}/v1/push", json={"client_id": client_id,
                                                         "mutations": mutations}, timeout=60)
    spent = _cpu_seconds(server.proc.pid) - before
    assert response.status_code == 200, response.text
    return spent, response.json()


def test_a_batch_with_extreme_mids_is_answered_without_reading_the_whole_history(
        server_factory, tmp_path):
    """Mids 1 and 2**63-1 in one batch of a client with a million stored results: reading
    that whole history costs the writer about half a second of CPU (every other client
    waits); the batch's own part of the log costs a millisecond or two."""
    db = tmp_path / "history.db"
    _migrate(db)
    _store_history(db, "c-long", HISTORY)
    server = server_factory(db=db)
    costs = []
    for attempt in range(3):  # the best of three: a collection or a tick can land in one
        top = TOP - attempt
        spent, body = _push_costs(server, "c-long", [mutation(1, "x", node="c-long"),
                                                     mutation(top, f"top-{attempt}",
                                                              node="c-long")])
        costs.append(spent)
        first, last = body["results"]
        assert first["status"] == "rejected" and first["code"] == "mutation_id_reused", first
        assert last["status"] == "applied" and last["mid"] == top, last
    assert min(costs) < 0.05, f"pushes of two mutations cost the server {costs} CPU seconds"


def test_a_stored_batch_with_extreme_mids_is_kept_in_rows_of_bounded_span(live_server):
    """A batch whose mids lie far apart is stored as rows that each cover a short range of
    mids, so no later lookup near any one of them reads the others; replayed, every one of
    them is found."""
    mids = [1, 2, 70, 2**31, 2**53 + 1, TOP - 64, TOP]
    batch = [mutation(mid, f"r{n}", node="c-wide") for n, mid in enumerate(mids)]
    first = httpx.post(f"{live_server.url}/v1/push",
                       json={"client_id": "c-wide", "mutations": batch}, timeout=30).json()
    assert [r["status"] for r in first["results"]] == ["applied"] * len(mids)
    rows = read_db(live_server.db, "SELECT first_mid, last_mid, count FROM mutation_batches "
                                   "WHERE client_id = 'c-wide'")
    assert sum(count for _f, _l, count in rows) == len(mids)
    spans = [last - first for first, last, _c in rows]
    assert max(spans) < 1024, rows  # a short range each, whatever the batch spans

    replay = httpx.post(f"{live_server.url}/v1/push",
                        json={"client_id": "c-wide", "mutations": batch}, timeout=30).json()
    assert replay["results"] == [{**r, "duplicate": True} for r in first["results"]]


# -- the lookup itself, on a real SQLite file, for any mix of stored and new mids ----------

@pytest.fixture(scope="module")
def log_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    db = tmp_path_factory.mktemp("log") / "log.db"
    _migrate(db)
    conn = sqlite3.connect(db, isolation_level=None)
    yield conn
    conn.close()


MIDS = st.one_of(st.integers(1, 300), st.integers(1, TOP), st.sampled_from([1, 63, 64, TOP]))
_examples = iter(range(10**9))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(MIDS, min_size=1, max_size=40, unique=True),
                        min_size=1, max_size=6),
       probe=st.lists(MIDS, min_size=1, max_size=40))
def test_every_stored_result_is_found_whatever_mids_the_batches_carried(log_db, batches,
                                                                        probe):
    client_id = f"c-prop-{next(_examples)}"
    stored: dict[int, tuple[bytes, bytes]] = {}
    log_db.execute("BEGIN")
    try:
        for batch in batches:
            txn = SQLiteTransaction(log_db)
            entries = [(mid, b"fp%d" % mid, b'{"mid":%d}' % mid) for mid in batch
                       if mid not in stored]
            if entries:
                txn.write_results(client_id, entries, 1)
                txn.flush()
            stored.update((mid, (fp, result)) for mid, fp, result in entries)
        lookup = [*probe, *(m for batch in batches for m in batch[:3])]
        found = SQLiteTransaction(log_db).stored_results(client_id, lookup)
    finally:
        log_db.execute("ROLLBACK")
    assert found == {mid: stored[mid] for mid in set(lookup) if mid in stored}
