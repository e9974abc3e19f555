"""Write client_sw/test/op-vectors.json: chains of one client's writes (put, patch with plain
fields and commutative operations, delete) and the record the server's own rules
(syncserver.core.merge.decide) make of them, applied in order. The client's unit test folds the
same chains with its local rules and must reach the same data; tests/client checks that
the committed file still matches the server's rules.

Run from the repository root: python3 client_sw/scripts/op-vectors.py [--check]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import orjson

from syncserver.core.merge import State, decide
from syncserver.model.mutations import Mutation, parse_mutation
from syncserver.model.policies import Policy, PolicyTable

OUTPUT = Path(__file__).resolve().parents[1] / "test" / "op-vectors.json"
SEED = 11
CHAINS = 200
# 1e308 twice is a float counter beyond what JSON holds: the server rejects that write.
# Elements whose JSON sorts differently by UTF-16 unit and by code point (the server sorts by
# code point), numbers, objects and lists.
ELEMENTS: list[Any] = ["a", "b", "\uff5a", "\U0001f600", 1, 2, 10, {"k": 1}, [1], True]
FIELDS = ["n", "tags", "title"]


# Chains every rule is seen in, whatever the seed draws: an operation onto each other kind of
# value is rejected (operation_type_mismatch), onto a missing field or null starts from
# nothing, and a rejected link leaves the record as it was for the next one.
FIXED: list[list[dict[str, Any]]] = [
    [{"op": "put", "data": {"n": value, "tags": value}},
     {"op": "patch", "data": {"n": {"$inc": 1}, "title": "kept?"}},
     {"op": "patch", "data": {"tags": {"$add": ["a"]}, "title": "kept?"}},
     {"op": "patch", "data": {"tags": {"$remove": ["a"]}, "title": "kept?"}},
     {"op": "patch", "data": {"title": "after"}}]
    for value in ["five", "", 0, 1.5, True, False, None, [], [1, "a"], {}, {"k": 1}]
] + [
    [{"op": "patch", "data": {"n": {"$inc": 2}, "tags": {"$remove": ["a"]}}},
     {"op": "patch", "data": {"tags": {"$inc": 1}}},
     {"op": "patch", "data": {"n": {"$add": [1]}}},
     {"op": "patch", "data": {"n": None, "tags": {"$add": ["b"]}}},
     {"op": "patch", "data": {"n": {"$add": [1]}}}],
]


def plain_value(rng: random.Random) -> Any:
    return rng.choice([
        rng.choice(["milk", "eggs"]), rng.randint(-3, 3), rng.random() < 0.5 and 1.5,
        rng.sample(ELEMENTS, rng.randint(0, 3)), {"nested": rng.randint(0, 2)}, None,
    ])


def operation(rng: random.Random) -> Any:
    kind = rng.choice(["$inc", "$add", "$remove"])
    if kind == "$inc":
        return {"$inc": rng.choice([1, 2, -1, 0.5, 1e308])}
    return {kind: rng.sample(ELEMENTS, rng.randint(1, 3))}


def write(rng: random.Random) -> dict[str, Any]:
    op = rng.choices(["put", "patch", "delete"], [2, 6, 1])[0]
    if op == "delete":
        return {"op": "delete"}
    data: dict[str, Any] = {}
    for name in rng.sample(FIELDS, rng.randint(1, 3)):
        if op == "patch" and rng.random() < 0.6:
            data[name] = operation(rng)
        elif op == "patch" and rng.random() < 0.2:
            data[name] = None
        else:
            data[name] = plain_value(rng)
    return {"op": op, "data": data}


def mutation(mid: int, w: dict[str, Any], base: int) -> Mutation:
    raw = {"mid": mid, "space": "s", "collection": "c", "id": "r", "op": w["op"],
           "base_version": base, "hlc": f"{1763756400000 + mid:013d}:00000:c-1"}
    if "data" in w:
        raw["data"] = w["data"]
    parsed = parse_mutation(raw, 1_000_000)
    assert isinstance(parsed, Mutation), parsed
    return parsed


def settle(writes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The server's record after the chain, as the feed shows it."""
    table = PolicyTable(default=Policy.MERGE)
    state: State | None = None
    for mid, w in enumerate(writes, start=1):
        m = mutation(mid, w, state.version if state else 0)
        decision = decide(table, state, m, m.hlc, "c-1")
        if decision.state is not None:
            s = decision.state  # round-tripped through JSON, as storage does
            state = State(orjson.loads(orjson.dumps(s.data)), s.deleted, s.version, s.hlc,
                          orjson.loads(orjson.dumps(s.meta)))
    if state is None:
        return None
    return {"deleted": state.deleted, "data": None if state.deleted else state.data}


def vectors() -> bytes:
    rng = random.Random(SEED)
    chains = [{"writes": writes, "server": settle(writes)} for writes in FIXED]
    for _ in range(CHAINS):
        writes = [write(rng) for _ in range(rng.randint(1, 6))]
        chains.append({"writes": writes, "server": settle(writes)})
    lines = b",\n".join(orjson.dumps(chain) for chain in chains)
    return b'{"seed": %d, "chains": [\n%s\n]}\n' % (SEED, lines)


def main() -> int:
    data = vectors()
    if "--check" in sys.argv:
        # Compared as values: the server's field order follows set iteration (hash seeds).
        return 0 if orjson.loads(OUTPUT.read_bytes()) == orjson.loads(data) else 1
    OUTPUT.write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
