"""Guarantee 11 over a real server: a chain of queued offline edits is judged against what
its device had actually seen (protocol 2: every queued write carries the confirmed version
as its base, and the server does not count the device's own writes as concurrent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import pull_all
from tests.pg import BACKENDS, backend_database
from tests.server import serving

POLICIES = "lww_c=lww,sw_c=server-wins,cw_c=client-wins,man_c=manual"
RESOLVERS = "cust=tests.conflicts.resolvers:longest_title"
COLLECTIONS = {"merge": "notes", "lww": "lww_c", "server-wins": "sw_c",
               "client-wins": "cw_c", "manual": "man_c", "custom": "cust"}
SPACE = "chains"


@pytest.fixture(scope="module", params=BACKENDS)
def http(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[httpx.Client]:
    """Every chain on each backend: the policies behave the same on both."""
    directory: Path = tmp_path_factory.mktemp("chains")
    env = {"SYNCSERVER_POLICIES": POLICIES, "SYNCSERVER_RESOLVERS": RESOLVERS}
    with backend_database(request.param, directory) as db, \
            serving(db, env, log=directory / "server.log") as client:
        yield client


_mids: dict[str, int] = {}


def m(client: str, collection: str, record: str, op: str, data: dict | None, base: int,
      ms: int) -> dict:
    """A mutation of `client` stamped at `ms` (absolute), its node the client id."""
    _mids[client] = _mids.get(client, 0) + 1
    out = {"mid": _mids[client], "space": SPACE, "collection": collection, "id": record,
           "op": op, "base_version": base, "hlc": f"{ms:013d}:00000:{client}"}
    if data is not None:
        out["data"] = data
    return out


def push(http: httpx.Client, client: str, mutations: list[dict], **extra: object) -> list:
    body = {"client_id": client, "protocol": 2, "mutations": mutations, **extra}
    response = http.post("/v1/push", json=body)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def audit(http: httpx.Client, record_id: str) -> list[dict]:
    response = http.get("/v1/conflicts", params={"space": SPACE, "id": record_id})
    assert response.status_code == 200, response.text
    return response.json()["conflicts"]


def record(http: httpx.Client, collection: str, record_id: str) -> dict:
    state, _ = pull_all(http, SPACE)
    return state[(collection, record_id)]


def test_an_older_offline_edit_never_overwrites_a_newer_one_from_another_device(http):
    # Issue 11, default policy (merge): device A creates a note; B changes its title at
    # T-1s; A, offline since before B's edit, queued title edits at T-5s and T-4.999s,
    # both based on the version A had confirmed.
    now = int(time.time() * 1000)
    push(http, "dev-a", [m("dev-a", "notes", "n1", "put", {"title": "draft"}, 0, now - 60_000)])
    push(http, "dev-b", [m("dev-b", "notes", "n1", "patch", {"title": "B"}, 1, now - 1_000)])
    chain = [m("dev-a", "notes", "n1", "patch", {"title": "A1"}, 1, now - 5_000),
             m("dev-a", "notes", "n1", "patch", {"title": "A2"}, 1, now - 4_999)]
    results = push(http, "dev-a", chain)
    assert [r["status"] for r in results] == ["conflict", "conflict"], results
    assert record(http, "notes", "n1")["data"] == {"title": "B"}
    assert sorted(e["mid"] for e in audit(http, "n1")) == [c["mid"] for c in chain]

    # When B's edit is the older one, A's chain wins whole: its first link settles the
    # conflict with B (audited once), its second is A's own next edit: taken in with no
    # field settled against anyone (`merged`, as the record had B's change since the base).
    push(http, "dev-a", [m("dev-a", "notes", "n2", "put", {"title": "draft"}, 0, now - 60_000)])
    push(http, "dev-b", [m("dev-b", "notes", "n2", "patch", {"title": "B"}, 1, now - 10_000)])
    chain = [m("dev-a", "notes", "n2", "patch", {"title": "A1"}, 1, now - 5_000),
             m("dev-a", "notes", "n2", "patch", {"title": "A2"}, 1, now - 4_999)]
    results = push(http, "dev-a", chain)
    assert [r["status"] for r in results] == ["merged", "merged"], results
    assert "fields" not in results[1]["resolution"], results[1]
    assert record(http, "notes", "n2")["data"] == {"title": "A2"}
    assert [e["mid"] for e in audit(http, "n2")] == [chain[0]["mid"]]


@pytest.mark.parametrize("policy", COLLECTIONS)
def test_a_queued_chain_with_no_one_else_writing_is_applied_whole_under_every_policy(
        http, policy):
    # Before protocol 2 the server took a device's own earlier queued write for someone
    # else's change: under server-wins its second edit lost to its first.
    collection, rid = COLLECTIONS[policy], f"own-{policy}"
    now = int(time.time() * 1000)
    push(http, "dev-c", [m("dev-c", collection, rid, "put", {"title": "t0", "n": 0}, 0, now - 9)])
    chain = [m("dev-c", collection, rid, "patch", {"title": "one"}, 1, now - 8),
             m("dev-c", collection, rid, "patch", {"n": 2}, 1, now - 7),
             m("dev-c", collection, rid, "put", {"title": "three", "n": 3}, 1, now - 6),
             m("dev-c", collection, rid, "patch", {"n": 4}, 1, now - 5)]
    results = push(http, "dev-c", chain)
    assert [r["status"] for r in results] == ["applied"] * 4, results
    assert record(http, collection, rid)["data"] == {"title": "three", "n": 4}
    assert audit(http, rid) == []


def test_a_chain_after_another_device_s_write_is_judged_against_it_under_server_wins(http):
    now = int(time.time() * 1000)
    push(http, "dev-d", [m("dev-d", "sw_c", "s1", "put", {"v": 0}, 0, now - 50)])
    push(http, "dev-e", [m("dev-e", "sw_c", "s1", "put", {"v": "e"}, 1, now - 10)])
    chain = [m("dev-d", "sw_c", "s1", "put", {"v": "d1"}, 1, now - 40),
             m("dev-d", "sw_c", "s1", "put", {"v": "d2"}, 1, now - 30)]
    results = push(http, "dev-d", chain)
    assert [r["status"] for r in results] == ["conflict", "conflict"], results
    assert record(http, "sw_c", "s1")["data"] == {"v": "e"}
    assert len(audit(http, "s1")) == 2


def test_a_mutation_whose_hlc_node_is_not_the_client_id_is_rejected(http):
    now = int(time.time() * 1000)
    forged = m("dev-f", "notes", "f1", "put", {"v": 1}, 0, now)
    forged["hlc"] = f"{now:013d}:00000:someone-else"
    after = m("dev-f", "notes", "f2", "put", {"v": 2}, 0, now)
    results = push(http, "dev-f", [forged, after])
    assert results[0]["status"] == "rejected" and results[0]["code"] == "invalid_hlc"
    assert "client_id" in results[0]["message"]
    assert results[1]["status"] == "applied"


def test_push_names_its_protocol_and_an_unknown_one_is_refused(http):
    now = int(time.time() * 1000)
    one = m("dev-g", "notes", "g1", "put", {"v": 1}, 0, now)
    assert push(http, "dev-g", [one], protocol=1)[0]["status"] == "applied"
    body = {"client_id": "dev-g", "protocol": 3,
            "mutations": [m("dev-g", "notes", "g2", "put", {"v": 1}, 0, now)]}
    response = http.post("/v1/push", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request" and "protocol" in response.json()["detail"]


def test_the_servers_own_node_cannot_be_a_client_id(http):
    """Resolutions made through the conflicts API are stamped with the server's node: a
    client of that id would see them as its own writes and override them unjudged."""
    now = int(time.time() * 1000)
    mutation = m("server", "notes", "s1", "put", {"v": 1}, 0, now)
    response = http.post("/v1/push", json={"client_id": "server", "protocol": 2,
                                           "mutations": [mutation]})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert "reserved" in response.json()["detail"]
    state, _cursor = pull_all(http, SPACE)
    assert ("notes", "s1") not in state
