"""Guarantee 12 for records: the conflict metadata a record carries (per field, per set
element) is bounded: it counts against SYNCSERVER_MAX_RECORD_BYTES, removing what was never
there leaves nothing, and `syncserver compact` drops what is older than the horizon."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.helpers import mutation, pull_all, push

from .support import read_db
from .test_compaction import run_compact


@pytest.fixture(scope="module")
def c(limited_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        yield client


def _stored(db, space: str, record_id: str) -> tuple[str, str]:
    ((data, meta),) = read_db(db, "SELECT data, meta FROM records WHERE space = ? AND id = ?",
                              (space, record_id))
    return data, meta


def test_removing_elements_never_added_leaves_no_metadata(c, limited_server):
    space, rid = "bounds", "never"
    push(c, "c-never", [mutation(1, rid, data={"tags": ["a"]}, space=space)])
    gone = {"tags": {"$remove": ["gone-1", "gone-2", "gone-3"]}}
    results = push(c, "c-never", [mutation(2, rid, op="patch", base=1, data=gone,
                                           space=space)])["results"]
    assert results[0]["status"] == "applied"
    data, meta = _stored(limited_server.db, space, rid)
    assert orjson.loads(data) == {"tags": ["a"]}
    assert "gone" not in meta, meta


def test_seventeen_requests_of_removals_leave_the_record_small(c, limited_server):
    # Issue 11: 17 requests of $remove of elements never added grew a 17-byte record's
    # metadata to 62 MB, and every later write of it held the writer for ~400 ms.
    space, rid = "bounds", "blowup"
    push(c, "c-blowup", [mutation(1, rid, data={"tags": []}, space=space)])
    mid = 1
    for request in range(17):
        batch = []
        for _ in range(10):
            mid += 1
            elements = [f"{request}.{mid}.{i}" for i in range(70)]
            batch.append(mutation(mid, rid, op="patch", base=1, space=space,
                                  data={"tags": {"$remove": elements}}))
        results = push(c, "c-blowup", batch)["results"]
        assert {r["status"] for r in results} <= {"applied", "merged"}, results
    data, meta = _stored(limited_server.db, space, rid)
    assert len(data) + len(meta) < 300, (len(data), len(meta))


def test_the_record_limit_counts_metadata_and_says_so(c, limited_server):
    # data stays under the limit (1000 bytes here); data and metadata together would not
    space, rid = "bounds", "withmeta"
    push(c, "c-meta", [mutation(1, rid, data={"pad": "x" * 500, "tags": []}, space=space)])
    grow = {"tags": {"$add": [f"e{i:02d}" for i in range(30)]}}
    after = mutation(3, "withmeta-next", space=space)
    results = push(c, "c-meta", [mutation(2, rid, op="patch", base=1, data=grow,
                                          space=space), after])["results"]
    assert results[0]["status"] == "rejected", results[0]
    assert results[0]["code"] == "record_too_large"
    assert "metadata" in results[0]["message"]
    assert "SYNCSERVER_MAX_RECORD_BYTES" in results[0]["message"]
    assert results[1]["status"] == "applied"
    data, _meta = _stored(limited_server.db, space, rid)
    assert len(data) < 1000 and orjson.loads(data)["tags"] == []


def test_compaction_drops_old_metadata_and_keeps_results_correct(server_factory, tmp_path):
    db = tmp_path / "meta.db"
    server = server_factory(db=db)
    space, rid = "meta-compact", "r1"
    with httpx.Client(base_url=server.url, timeout=30) as c:
        push(c, "c-a", [mutation(1, rid, data={"old": 1, "tags": ["p"], "n": 0}, space=space,
                                 node="c-a"),
                        mutation(2, rid, op="patch", base=1, space=space, node="c-a",
                                 data={"old": None, "tags": {"$add": ["q", "r"]}}),
                        mutation(3, rid, op="patch", base=1, space=space, node="c-a",
                                 data={"tags": {"$remove": ["r"]}, "n": {"$inc": 2}})])
        before, _ = pull_all(c, space)
        _data, meta_before = _stored(db, space, rid)
        assert '"old"' in meta_before and '\\"q\\"' in meta_before, meta_before
        time.sleep(0.01)  # time itself: "0s" compacts what is older than now, to the ms
        assert "trimmed the conflict metadata of 1 records" in run_compact(db, "0s")
        _data, meta_after = _stored(db, space, rid)
        assert '"old"' not in meta_after and '\\"q\\"' not in meta_after, meta_after
        assert len(meta_after) < len(meta_before)
        after, _ = pull_all(c, space)
        assert after == before  # compaction changes no data, version or feed position
        # the record goes on working: the compacted element is still a set element
        results = push(c, "c-b", [mutation(1, rid, op="patch", base=3, space=space, node="c-b",
                                           data={"tags": {"$remove": ["q"]}, "n": {"$inc": 1}})])
        assert results["results"][0]["status"] == "applied"
        final, _ = pull_all(c, space)
        assert final[("todos", rid)]["data"] == {"tags": ["p"], "n": 3}
