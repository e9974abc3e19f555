"""The instruction-count benchmark's workloads are what they claim: pushed to a real server,
every mutation of every batch applies (new records, and patches and deletes of the records
the batch before created)."""

from __future__ import annotations

from collections import Counter

import httpx
import orjson

from load.instructions import batches, main


def test_the_mixed_workload_applies_in_full_with_its_shares(server_factory) -> None:
    server = server_factory()
    ops: Counter[str] = Counter()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for body in batches(mixed=True, count=4):
            sent = orjson.loads(body)["mutations"]
            ops.update(m["op"] for m in sent)
            response = client.post("/v1/push", content=body,
                                   headers={"content-type": "application/json"})
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert [r["status"] for r in results] == ["applied"] * len(sent)
        changes, cursor, more = [], "", True
        while more:
            page = client.get("/v1/changes", params={"space": "s0", "since": cursor}).json()
            changes += page["changes"]
            cursor, more = page["cursor"], page["more"]
    assert ops == {"put": 500 + 3 * 350, "patch": 3 * 125, "delete": 3 * 25}
    live = [c for c in changes if not c["deleted"]]
    assert len(changes) == 500 + 3 * 350 and len(live) == 500 + 3 * 350 - 3 * 25


def test_an_unknown_workload_is_refused_with_the_known_ones_named(capsys) -> None:
    try:
        main(["push-everything"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "pick from push-new, push-mixed, feed" in capsys.readouterr().err
