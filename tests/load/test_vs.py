"""``python -m load vs pouchdb``: the syncserver side against a real server, its figures
checked against what the server holds afterwards; the refusals that need no peer.

The PouchDB side needs pouchdb-server installed with npm (24 s with a warm npm cache, about
3 minutes on a fresh machine, once per machine): the test that runs both sides is slow, and
runs wherever npm is (the client's tests need npm too)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from load.cli import main
from load.snapshot import read_feed
from load.vs.sides import Side, check_stored
from load.vs.wire import SYNCSERVER

RECORDS = 2500  # the feed's store: a few passes a second even on a busy machine


def run_vs(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "vs"
    status = main(["vs", "pouchdb", "--duration", "1", "--clients", "1,2",
                   "--records", str(RECORDS), "--no-progress", "--out", str(out), *args])
    return status, orjson.loads((out / "report.json").read_bytes())


def test_syncserver_side_measures_real_work(live_server, tmp_path: Path) -> None:
    pid = live_server.proc.pid
    status, report = run_vs(tmp_path, "--sides", "syncserver", "--syncserver-url",
                            live_server.url, "--syncserver-pid", str(pid))
    assert status == 0, report
    rows = {(row["work"], row["clients"]): row for row in report["rows"]}
    assert set(rows) == {("push", 1), ("push", 2), ("feed", 1), ("feed", 2)}

    for clients in (1, 2):
        push = rows["push", clients][SYNCSERVER]
        assert push["errors"] == []
        assert push["units"] > 0 and push["units"] == push["requests"] * 500
        assert push["seconds"] >= 1 and push["per_s"] == pytest.approx(
            push["units"] / push["seconds"], rel=0.01)
        assert push["server_cpu_s"] > 0 and push["clients_cpu_s"] > 0
        assert len(push["stores"]) == clients  # a space per client
        # every acknowledged write is stored, once, as the record the tool sent: each
        # client's records 1..k in its own space, ~200 bytes of JSON each
        feed = asyncio.run(read_feed(live_server.url, push["stores"], 1000))
        stored = 0
        for space, changes in feed.items():
            ids = [change["id"] for change in changes]
            assert ids == [f"{space}-r{n}" for n in range(1, len(ids) + 1)]
            assert all(160 <= len(orjson.dumps(c["data"])) <= 200 for c in changes)
            stored += len(ids)
        assert stored == push["units"]

        read = rows["feed", clients][SYNCSERVER]
        assert read["errors"] == []
        assert read["passes"] >= clients  # each reader read the whole store at least once
        assert read["units"] >= read["passes"] * RECORDS
        assert read["server_cpu_s"] > 0 and read["per_s"] > 0
    assert report["servers"][SYNCSERVER]["version"]

    # the read-back check is a real one: a count the server does not hold is named
    side = Side(SYNCSERVER, live_server.url, pid)
    stores = rows["push", 2][SYNCSERVER]["stores"]
    units = rows["push", 2][SYNCSERVER]["units"]
    assert check_stored(side, stores, units) is None
    assert check_stored(side, stores, units + 1) == (
        f"syncserver: {units + 1} writes acknowledged, {units} records stored")


def test_missing_npm_is_named(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither node nor npm
    status = main(["vs", "pouchdb", "--sides", "pouchdb", "--no-progress",
                   "--peer-dir", str(tmp_path / "peer"), "--out", str(tmp_path / "vs")])
    assert status == 2
    error = capsys.readouterr().err
    assert "needs Node.js" in error and "apt-get install nodejs npm" in error
    assert "--sides syncserver" in error


@pytest.mark.parametrize("args", [["--clients", "0"], ["--clients", "1,x"],
                                  ["--work", "sync"], ["--duration", "0"],
                                  ["--syncserver-url", "http://10.1.2.3:8000"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["vs", "pouchdb", *args])
    assert exit_.value.code == 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # a cold npm cache: the install alone took 3 minutes here
@pytest.mark.skipif(shutil.which("npm") is None,
                    reason="the PouchDB side installs pouchdb-server with npm, not on PATH")
def test_both_sides(tmp_path: Path) -> None:
    status, report = run_vs(tmp_path)
    assert status == 0, report
    for row in report["rows"]:
        for side in ("syncserver", "pouchdb"):
            # the tool read each push's stores back (doc_count on PouchDB): a difference
            # would be an error, and the status 1
            assert row[side]["errors"] == [] and row[side]["units"] > 0
            assert row[side]["server_cpu_s"] > 0
        assert row["ratio"] > 0 and row["cpu_ratio"] > 0
    assert report["servers"]["pouchdb"]["version"] == "4.2.0"
