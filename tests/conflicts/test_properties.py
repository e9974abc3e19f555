"""Property tests: the same concurrent mutations, in any arrival order, give the same record."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from syncserver.model.policies import Policy, PolicyTable
from tests.conflicts.engine import make, run, visible

FIELDS = ["a", "b", "c"]
values = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y"]), st.none())
patches = st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=3)
puts = st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 9), max_size=3)


@st.composite
def concurrent_writes(draw, ops: tuple[str, ...]) -> list[tuple[str, object, int, str]]:
    """2-4 writes from different clients, all based on version 1, distinct HLC stamps."""
    n = draw(st.integers(2, 4))
    stamps = draw(st.lists(st.integers(10, 60), min_size=n, max_size=n, unique=True))
    writes = []
    for i in range(n):
        op = draw(st.sampled_from(ops))
        data = draw(patches) if op == "patch" else draw(puts) if op == "put" else None
        writes.append((op, data, stamps[i], f"client{i}"))
    return writes


def _all_orders_agree(policy: Policy, writes: list) -> None:
    table = PolicyTable(default=policy)
    start = run(table, [make(1, "put", {"a": 0, "b": 0, "c": 0}, 0, 1, "origin")])
    mutations = [make(i + 1, op, data, 1, ms, node) for i, (op, data, ms, node) in
                 enumerate(writes)]
    outcomes = {repr(visible(run(table, list(order), start)))
                for order in itertools.permutations(mutations)}
    assert len(outcomes) == 1, outcomes


@settings(max_examples=300, deadline=None)
@given(concurrent_writes(("put", "patch", "delete")))
def test_merge_gives_the_same_record_in_any_arrival_order(writes) -> None:
    _all_orders_agree(Policy.MERGE, writes)


@settings(max_examples=200, deadline=None)
@given(concurrent_writes(("put", "delete")))
def test_lww_gives_the_same_record_in_any_arrival_order(writes) -> None:
    _all_orders_agree(Policy.LWW, writes)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=2, max_size=5),
       st.lists(st.integers(10, 99), min_size=5, max_size=5, unique=True))
def test_counters_never_lose_increments(amounts, stamps) -> None:
    table = PolicyTable(default=Policy.MERGE)
    start = run(table, [make(1, "put", {"n": 0}, 0, 1, "origin")])
    mutations = [make(i + 1, "patch", {"n": {"$inc": amount}}, 1, stamps[i], f"c{i}")
                 for i, amount in enumerate(amounts)]
    for order in itertools.permutations(mutations):
        final = run(table, list(order), start)
        assert final is not None and final.data["n"] == sum(amounts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["$add", "$remove"]),
                          st.lists(st.sampled_from(["p", "q", "r"]), min_size=1, max_size=2)),
                min_size=2, max_size=4),
       st.lists(st.integers(10, 99), min_size=4, max_size=4, unique=True))
def test_set_operations_commute(ops, stamps) -> None:
    table = PolicyTable(default=Policy.MERGE)
    start = run(table, [make(1, "put", {"tags": ["p"]}, 0, 1, "origin")])
    mutations = [make(i + 1, "patch", {"tags": {op: elements}}, 1, stamps[i], f"c{i}")
                 for i, (op, elements) in enumerate(ops)]
    results = {repr(run(table, list(order), start).data["tags"])  # type: ignore[union-attr]
               for order in itertools.permutations(mutations)}
    assert len(results) == 1, results


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 9), min_size=1),
       st.dictionaries(st.sampled_from(["d", "e"]), st.integers(0, 9), min_size=1),
       st.integers(10, 50), st.integers(51, 99))
def test_disjoint_field_edits_both_survive(left, right, ms_left, ms_right) -> None:
    table = PolicyTable(default=Policy.MERGE)
    start = run(table, [make(1, "put", {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0}, 0, 1, "o")])
    one = make(1, "patch", left, 1, ms_left, "left")
    two = make(1, "patch", right, 1, ms_right, "right")
    for order in ([one, two], [two, one]):
        final = run(table, order, start)
        assert final is not None
        assert {k: final.data[k] for k in left} == left
        assert {k: final.data[k] for k in right} == right


counter_writes = st.one_of(st.integers(0, 5).map(lambda n: ("plain", n)),
                           st.integers(-3, 3).map(lambda n: ("op", {"$inc": n})))
elements = st.lists(st.sampled_from(["p", "q", "r", "s"]), max_size=3)
set_writes = st.one_of(elements.map(lambda e: ("plain", e)),
                       elements.map(lambda e: ("op", {"$add": e})),
                       elements.map(lambda e: ("op", {"$remove": e})))


@st.composite
def mixed_writes(draw, whole: bool = False) -> list[tuple[str, dict, int, str]]:
    """2-4 concurrent writes (all based on the same version, distinct clients and stamps),
    each a patch or a put mixing plain values and operations of a counter `n` and a set
    `tags`. `whole`: plain values only in puts (lww settles patches whole, by arrival)."""
    n = draw(st.integers(2, 4))
    stamps = draw(st.lists(st.integers(10, 60), min_size=n, max_size=n, unique=True))
    out = []
    for i in range(n):
        op = draw(st.sampled_from(["patch", "patch", "patch", "put"]))
        data: dict = {}
        for name, strategy in (("n", counter_writes), ("tags", set_writes)):
            if draw(st.booleans()):
                kind, value = draw(strategy)
                if op == "put" and kind == "op":
                    continue  # operations live in patches only
                if whole and op == "patch" and kind == "plain":
                    continue
                data[name] = value
        if draw(st.booleans()) and not (whole and op == "patch"):
            data["a"] = draw(st.integers(0, 9))
        out.append((op, data, stamps[i], f"client{i}"))
    return out


def _mixed_orders_agree(policy: Policy, writes: list, start_ops: bool) -> None:
    table = PolicyTable(default=policy)
    first = [make(1, "put", {"a": 0, "n": 1, "tags": ["p", "q"]}, 0, 1, "origin")]
    if start_ops:  # the fields have been operated on before: their elements carry tags
        first += [make(2, "patch", {"n": {"$inc": 1}, "tags": {"$add": ["r"]}}, 1, 2, "origin")]
    start = run(table, first)
    assert start is not None
    base = start.version
    mutations = [make(i + 1, op, data, base, ms, node) for i, (op, data, ms, node) in
                 enumerate(writes)]
    outcomes = {repr(visible(run(table, list(order), start)))
                for order in itertools.permutations(mutations)}
    assert len(outcomes) == 1, outcomes


@settings(max_examples=300, deadline=None)
@given(mixed_writes(), st.booleans())
def test_plain_writes_and_operations_settle_the_same_in_any_order_under_merge(writes, ops):
    _mixed_orders_agree(Policy.MERGE, writes, ops)


@settings(max_examples=200, deadline=None)
@given(mixed_writes(whole=True), st.booleans())
def test_plain_writes_and_operations_settle_the_same_in_any_order_under_lww(writes, ops):
    _mixed_orders_agree(Policy.LWW, writes, ops)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["$add", "$remove"]),
                          st.lists(st.sampled_from(["p", "q", "r", "s"]), min_size=1,
                                   max_size=3)), min_size=1, max_size=6))
def test_set_metadata_holds_only_present_elements(ops) -> None:
    # no tombstones: removing what is not there (never added, or removed already) leaves
    # nothing behind, so the metadata stays within the size of the set itself
    table = PolicyTable(default=Policy.MERGE)
    state = run(table, [make(1, "put", {"tags": []}, 0, 1, "origin")])
    for i, (op, elements) in enumerate(ops):
        state = run(table, [make(i + 1, "patch", {"tags": {op: elements}}, i + 1, 10 + i,
                                 f"c{i % 2}")], state)
    assert state is not None
    kept = {**state.meta.get("s", {}).get("tags", {}),  # per-element meta, either release
            **state.meta.get("e", {}).get("tags", {})}
    assert {orjson.loads(key) for key in kept} <= set(state.data["tags"])
