"""Whatever the order of a batch's mutations over writable, read-only and ungranted spaces,
exactly the mutations of writable spaces are applied and stored; the others are
`forbidden`, leave no data and no stored result."""

from __future__ import annotations

import uuid

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.support import stored_mutations, stored_records
from tests.helpers import mutation, stamped_by

from . import keys
from .conftest import bearer

KINDS = ("rw", "r", "none")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=12))
def test_exactly_the_writable_mutations_of_a_batch_apply_in_any_order(secured, kinds):
    run = uuid.uuid4().hex[:8]
    spaces = {kind: f"p-{run}-{kind}" for kind in KINDS}
    token = keys.hs(keys.claims("u" + run, {spaces["rw"]: "rw", spaces["r"]: "r"}))
    cid = "c-" + run
    batch = [mutation(i + 1, f"x{i}", space=spaces[kind]) for i, kind in enumerate(kinds)]
    r = httpx.post(f"{secured.url}/v1/push", headers=bearer(token), timeout=30,
                   json={"client_id": cid, "protocol": 2,
                         "mutations": stamped_by(cid, batch)})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["status"], x.get("code")) for x in results] == [
        ("applied", None) if kind == "rw" else ("rejected", "forbidden") for kind in kinds]
    written = {i + 1 for i, kind in enumerate(kinds) if kind == "rw"}
    assert {m for _c, m, _r in stored_mutations(secured.server.db, cid)} == written
    assert len(stored_records(secured.server.db, spaces["rw"])) == len(written)
    assert stored_records(secured.server.db, spaces["r"]) == {}
    assert stored_records(secured.server.db, spaces["none"]) == {}
