"""The load tool's memory stays bounded: what it keeps for the convergence check does not
multiply by the number of clients (load/replica.py), and the recorded history lives on disk
(load/journal.py). A soak of 1,000 clients used to grow by clients x records until the
kernel killed it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import orjson

from load.checker import ClientView, Verdict, compare_stores
from load.journal import Journal
from load.recorder import Recorder
from load.scenarios.steady import Steady
from load.settings import Settings
from load.stats import Stats

RECORDS = 400


def _page(space: str, records: int) -> bytes:
    """A changes page as the server sends it: every client decodes its own copy."""
    changes = [
        {"space": space, "collection": "todos", "id": f"r{i}", "version": 3, "seq": i + 1,
         "deleted": False, "hlc": f"0001700000000{i:05d}:0000:writer",
         "data": {"title": f"record {i}", "n": i, "done": False, "pad": "x" * 130}}
        for i in range(records)
    ]
    return orjson.dumps({"changes": changes, "cursor": "c", "more": False})


def _bytes_held_by_clients(count: int) -> tuple[int, Steady]:
    scenario = Steady(Settings(scenario="steady", urls=["http://127.0.0.1:9"]), Stats(),
                      Recorder())
    space = scenario.space_names[0]
    page = _page(space, RECORDS)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            client = scenario.make_client("reader", [space])
            client.apply_changes(orjson.loads(page)["changes"])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held, scenario


def test_clients_holding_the_same_records_cost_a_reference_each_not_a_copy() -> None:
    few, _ = _bytes_held_by_clients(10)
    many, scenario = _bytes_held_by_clients(100)
    per_client_record = (many - few) / (90 * RECORDS)
    # one decoded record is about 1 KB; a reference in a per-space list is 8 bytes (the
    # rest is each simulated client's own connection, clock and outbox)
    assert per_client_record < 60, per_client_record
    keys = list(scenario.clients[0].store)
    assert len(keys) == RECORDS
    first = scenario.clients[0].store[keys[0]]
    assert all(c.store[keys[0]] is first for c in scenario.clients)  # one shared object


def test_a_client_holding_a_different_state_keeps_its_own_and_the_checker_sees_it() -> None:
    _, scenario = _bytes_held_by_clients(3)
    space = scenario.space_names[0]
    honest, misled, behind = scenario.clients
    key = (space, "todos", "r7")
    wrong = orjson.loads(_page(space, RECORDS))["changes"][7]
    wrong["data"]["title"] = "not what the others got"  # same version, different body
    misled.apply_changes([wrong])
    older = dict(honest.store[key], version=2)
    behind.store.drop_space(space)  # resync: pulls again, and the server gives it v2 of r7
    behind.apply_changes([c for c in orjson.loads(_page(space, RECORDS))["changes"]
                          if c["id"] != "r7"] + [older])
    assert misled.store[key]["data"]["title"] == "not what the others got"
    assert honest.store[key]["data"]["title"] == "record 7"
    assert behind.store[key]["version"] == 2 and len(behind.store) == RECORDS
    reference: dict[Any, dict[str, Any]] = {k: honest.store[k] for k in honest.store}
    verdict = Verdict()
    for view in scenario.views():
        compare_stores("client_diverged", reference, view.store, view.spaces, verdict,
                       client_id=view.client_id)
    diverged = {(a["client_id"], a["record"]) for a in verdict.anomalies}
    assert (misled.client_id, "/".join(key)) in diverged
    assert (behind.client_id, "/".join(key)) in diverged
    assert verdict.counts["anomaly:client_diverged"] == 2
    assert not any(a["client_id"] == honest.client_id for a in verdict.anomalies)
    assert isinstance(scenario.views()[0], ClientView)


def test_the_journal_keeps_the_history_on_disk_and_gives_it_back_one_partition_at_a_time(
    tmp_path: Path,
) -> None:
    spaces = [f"s{i}" for i in range(8)]
    journal = Journal(spaces, directory=tmp_path, partitions=4)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for b in range(500):
            space = spaces[b % len(spaces)]
            batch = [{"mid": b * 40 + i, "space": space, "collection": "todos",
                      "id": f"r{b}-{i}", "op": "put", "base_version": 0, "hlc": "h",
                      "data": {"title": "x" * 150}} for i in range(40)]
            journal.sent("c1", batch)
            journal.answered("c1", [{"mid": m["mid"], "status": "applied", "version": 1,
                                     "seq": m["mid"] + 1} for m in batch], batch)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 1_000_000, held  # 20,000 mutations and results: about 30 MB in memory
    # a poison mutation aimed at a bad space stays with its innocent neighbours
    poison = {"mid": 1, "space": "no such space", "poison": "bad_space",
              "raw": lambda mid: b"{}", "big": 2**70}
    journal.sent("c2", [poison, {"mid": 2, "space": "s5", "collection": "todos", "id": "p"}])
    seen = 0
    for part_spaces, recorder in journal.partitions():
        assert all(m["space"] in part_spaces or "poison" in m
                   for m in recorder.mutations.values())
        seen += len(recorder.mutations)
        assert set(recorder.results) <= set(recorder.mutations)
        if ("c2", 1) in recorder.mutations:
            assert "s5" in part_spaces and ("c2", 2) in recorder.mutations
            assert recorder.mutations[("c2", 1)]["big"] == repr(2**70)
    assert seen == 20_002
    journal.close()
    assert not list(tmp_path.iterdir())


def test_a_run_reports_the_tools_memory_over_time(live_server, run_load, tmp_path: Path) -> None:
    status, report = run_load("steady", live_server.url, "--duration", "2.5", "--clients", "4",
                              "--batch-size", "10", "--spaces", "2")
    assert status == 0
    memory = report["results"]["memory"]
    assert memory["tool_peak_rss_mb"] > 10
    assert memory["server_rss_mb"] is None  # not spawned: the tool cannot see the server
    assert len(memory["seconds"]) == len(memory["tool_rss_mb"]) >= 3
    assert all(mb and mb > 10 for mb in memory["tool_rss_mb"])
    assert set(memory["phase_end_s"]) == {"load", "settle", "check"}
    html = next(tmp_path.glob("report-*/report.html")).read_text()
    assert "<h2>Memory</h2>" in html and "load tool, peak" in html
