"""Property tests of guarantee 11 with chains of queued offline writes (protocol 2).

Several devices each hold a confirmed version of one record and queue puts, patches and
deletes while offline, every one based on that confirmed version; some links fail (rejected,
lost to a conflict, left open under `manual`). Devices sync at random moments (push their
queue in order, then take the current version), so their chains arrive interleaved. For
every policy, at every step:

- a write is answered `applied` exactly when no one else wrote since its base (its own
  earlier queued writes do not count: it had seen them), and never audited otherwise;
- no write with an older stamp replaces a newer value written by another device, unless the
  policy says the client wins (client-wins, custom), and then it is audited;
- a value written by another device that the writer had not seen is never replaced
  without an audit entry, and a write whose intent did not make it into the record is
  audited too.

The engine is driven the way push.py drives it (tests/conflicts/engine.py): a decision with
`conflicted` is exactly what push.py writes to the audit (GET /v1/conflicts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.core.merge import ABSENT, Decision, State
from syncserver.model.mutations import Mutation
from syncserver.model.policies import ConflictContext, Policy, PolicyTable
from tests.conflicts.engine import make, step
from tests.server import serving

FIELDS = ("a", "b", "c")
DELETED = "_deleted"


def client_data_over_server(ctx: ConflictContext) -> dict[str, Any] | None:
    if ctx.client_op == "delete":
        return None
    return {**(ctx.server or {}), **{k: v for k, v in (ctx.client_data or {}).items()
                                     if v is not None}}


def table(policy: Policy) -> PolicyTable:
    policies = PolicyTable(default=Policy.MERGE if policy is Policy.CUSTOM else policy)
    if policy is Policy.CUSTOM:
        policies.register("c", client_data_over_server)
    return policies


writes = st.one_of(
    st.tuples(st.just("put"), st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 9),
                                              max_size=3)),
    st.tuples(st.just("patch"), st.dictionaries(st.sampled_from(FIELDS),
                                                st.one_of(st.integers(0, 9), st.none()),
                                                min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("bad"), st.none()),  # rejected: an unusable $inc
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[tuple[int, str, Any]], list[int]]:
    devices = draw(st.integers(2, 3))
    events = draw(st.lists(st.tuples(st.integers(0, devices - 1),
                                     st.one_of(writes, writes, st.just(("sync", None)))),
                           min_size=2, max_size=14))
    flush = draw(st.permutations(range(devices)))
    return devices, [(d, op, data) for d, (op, data) in events], list(flush)


class Model:
    """The record's history as the test sees it: who wrote each version, and who last
    changed each field's value (its stamp, its writer, the version)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.table = table(policy)
        origin = make(1, "put", {"a": 0, "b": 0}, 0, 1, "origin")
        _decision, state = step(self.table, None, origin)
        assert state is not None
        self.state: State = state
        self.writers = {1: "origin"}
        self.changers = {name: (origin.hlc, "origin", 1) for name in (*FIELDS, DELETED)}
        self.ever = set(state.data)  # the fields the record ever had or a write named
        self.log: list[tuple[Mutation, Decision]] = [(origin, _decision)]  # arrival order

    def apply(self, m: Mutation) -> None:
        prev = self.state
        decision, new = step(self.table, prev, m)
        assert new is not None
        self.check(prev, m, decision, new)
        self.log.append((m, decision))
        if new.version != prev.version:
            self.writers[new.version] = m.hlc[20:]
        self.ever |= new.data.keys()
        if decision.status != "rejected" and m.data:
            self.ever |= m.data.keys()  # named (a removal too): the record knows the field
        self.state = new

    def check(self, prev: State, m: Mutation, decision: Decision, new: State) -> None:
        node = m.hlc[20:]
        if decision.status == "rejected":
            assert new is prev
            return
        others = {self.writers[v] for v in range(m.base_version + 1, prev.version + 1)} - {node}
        assert (decision.status == "applied") == (not others), (m.base_version, others, decision)
        assert others or not decision.conflicted
        for name in _changed(prev, new):
            stamp, writer, version = self.changers[name]
            if writer != node:
                if version > m.base_version:  # the writer had not seen that value
                    assert decision.conflicted, ("replaced unaudited", name, decision)
                if stamp > m.hlc:  # an older write replacing a newer one
                    assert self.policy in (Policy.CLIENT_WINS, Policy.CUSTOM), (name, decision)
                    assert decision.conflicted
            self.changers[name] = (m.hlc, node, new.version)
        for name, wanted in _intent(self.ever, m).items():
            if _value(new, name) != wanted:
                assert decision.status != "applied"
                assert decision.conflicted, ("overridden unaudited", name, decision)
            elif new is not prev and m.hlc > self.changers[name][0]:
                # the same value, written later: it is this writer's value too (a register
                # keeps the later of two equal writes, or concurrent writes would settle
                # later ones by arrival order)
                self.changers[name] = (m.hlc, node, new.version)


def _value(state: State, name: str) -> Any:
    if name == DELETED:
        return state.deleted
    return state.data.get(name, ABSENT)


def _changed(prev: State, new: State) -> list[str]:
    return [name for name in (*FIELDS, DELETED) if _value(prev, name) != _value(new, name)]


def _intent(ever: set[str], m: Mutation) -> dict[str, Any]:
    if m.op == "delete":
        return {DELETED: True}
    if m.op == "put":  # its fields, and the removal of every field the record ever had (a
        # field another device creates concurrently is a disjoint edit, as with patches)
        return {DELETED: False, **{name: m.data.get(name, ABSENT)
                                   for name in m.data.keys() | ever}}
    return {DELETED: False, **{name: ABSENT if value is None else value
                               for name, value in m.data.items()}}


def _play(policy: Policy, devices: int, events: list, flush: list[int]) -> Model:
    model = Model(policy)
    confirmed = [1] * devices
    queues: list[list[Mutation]] = [[] for _ in range(devices)]
    mids = [0] * devices
    ms = 100

    def sync(d: int) -> None:
        for m in queues[d]:
            model.apply(m)
        queues[d].clear()
        confirmed[d] = model.state.version  # its results and a pull: the version it saw

    for d, op, data in events:
        ms += 10  # one clock for all: a device's stamps are after all it has seen
        if op == "sync":
            sync(d)
            continue
        mids[d] += 1
        if op == "bad":
            op, data = "patch", {"a": {"$inc": "one"}}
        queues[d].append(make(mids[d], op, data, confirmed[d], ms, f"d{d}"))
    for d in flush:
        sync(d)
    return model


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(Policy)), histories())
def test_no_chain_lets_an_older_write_silently_replace_a_newer_one(policy, history) -> None:
    _play(policy, *history)


def test_the_issue_repro_holds_in_the_engine_for_every_policy() -> None:
    # A's two queued title edits (T-5s, T-4.999s) arrive after B's (T-1s)
    for policy in Policy:
        model = Model(policy)
        model.apply(make(1, "patch", {"a": "B"}, 1, 9_000, "dev-b"))
        model.apply(make(1, "patch", {"a": "A1"}, 1, 5_000, "dev-a"))
        model.apply(make(2, "patch", {"a": "A2"}, 1, 5_001, "dev-a"))
        assert model.state.data["a"] == ("A2" if policy in (Policy.CLIENT_WINS, Policy.CUSTOM)
                                         else "B"), policy


# -- the same histories over a real server: its answers and its audit ------------------

COLLECTIONS = {policy: policy.value.replace("-", "_") for policy in Policy}
STATUS = {"open": "conflict"}  # the engine's open conflict is a `conflict_open` result


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    policies = ",".join(f"{name}={policy.value}" for policy, name in COLLECTIONS.items()
                        if policy is not Policy.CUSTOM)
    resolver = f"{COLLECTIONS[Policy.CUSTOM]}={__name__}:client_data_over_server"
    with serving(tmp_path_factory.mktemp("chain-props") / "sync.db",
                 {"SYNCSERVER_POLICIES": policies, "SYNCSERVER_RESOLVERS": resolver}) as client:
        yield client


_examples = itertools.count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(Policy)), histories())
def test_the_server_answers_and_audits_chains_as_the_engine_decides(server, policy,
                                                                     history) -> None:
    # every write the engine audits (conflicted) is in GET /v1/conflicts, and only those
    model = _play(policy, *history)
    tag = f"x{next(_examples)}"
    collection, space, rid = COLLECTIONS[policy], "chain-props", f"{tag}-r"
    audited = set()
    for m, decision in model.log:
        client = f"{tag}-{m.hlc[20:]}"
        raw = {"mid": m.mid, "space": space, "collection": collection, "id": rid, "op": m.op,
               "base_version": m.base_version, "hlc": m.hlc[:20] + client}
        if m.op != "delete":
            raw["data"] = m.data
        response = server.post("/v1/push", json={"client_id": client, "protocol": 2,
                                                 "mutations": [raw]})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["status"] == STATUS.get(decision.status, decision.status), (m, result)
        if decision.conflicted:
            audited.add((client, m.mid))
    entries = server.get("/v1/conflicts", params={"space": space, "id": rid}).json()
    assert {(e["client_id"], e["mid"]) for e in entries["conflicts"]} == audited
    record = server.get("/v1/changes", params={"space": space}).json()["changes"]
    (final,) = [c for c in record if c["id"] == rid]
    expected = model.state
    assert final["deleted"] == expected.deleted
    assert final["data"] == (None if expected.deleted else expected.data)
