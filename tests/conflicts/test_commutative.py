"""Guarantee 11 for commutative operations, over a real server: counters and sets settle
the same in every arrival order, and nothing an operation did disappears unaudited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conflicts.test_chains import audit, m, push, record
from tests.pg import BACKENDS, backend_database
from tests.server import serving


@pytest.fixture(scope="module", params=BACKENDS)
def http(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[httpx.Client]:
    """Every operation on each backend: counters and sets behave the same on both."""
    directory: Path = tmp_path_factory.mktemp("ops")
    with backend_database(request.param, directory) as db, \
            serving(db, log=directory / "server.log") as client:
        yield client


def test_a_stale_plain_write_of_a_counter_never_wipes_increments_unaudited(http):
    # Issue 11: an older `likes: 0` arriving after increments wiped them with no audit entry.
    now = int(time.time() * 1000)
    push(http, "p-a", [m("p-a", "posts", "c1", "put", {"likes": 0}, 0, now - 100)])
    for client in ("p-b", "p-c"):
        push(http, client, [m(client, "posts", "c1", "patch", {"likes": {"$inc": 1}}, 1, now - 10)])
    (stale,) = push(http, "p-d", [m("p-d", "posts", "c1", "patch", {"likes": 0}, 1, now - 50)])
    assert stale["status"] in ("merged", "conflict")
    entries = audit(http, "c1")
    assert [e["client_id"] for e in entries] == ["p-d"], entries
    assert entries[0]["server"]["data"] == {"likes": 2}  # what the reset absorbed is kept


def test_a_plain_write_of_a_set_does_not_let_a_later_add_resurrect_removed_elements(http):
    now = int(time.time() * 1000)
    add = {"tags": {"$add": ["x", "y"]}}
    push(http, "q-a", [m("q-a", "posts", "s1", "put", {"tags": []}, 0, now - 100),
                       m("q-a", "posts", "s1", "patch", add, 1, now - 90),
                       m("q-a", "posts", "s1", "patch", {"tags": ["z"]}, 2, now - 80),
                       m("q-a", "posts", "s1", "patch", {"tags": {"$add": ["w"]}}, 3, now - 70)])
    assert record(http, "posts", "s1")["data"] == {"tags": ["w", "z"]}


@pytest.mark.parametrize("add_first", [True, False])
def test_a_plain_set_write_and_a_concurrent_add_settle_the_same_in_both_orders(http, add_first):
    rid = f"s2-{add_first}"
    now = int(time.time() * 1000)
    push(http, "r-a", [m("r-a", "posts", rid, "put", {"tags": ["a"]}, 0, now - 100),
                       m("r-a", "posts", rid, "patch", {"tags": {"$add": ["b"]}}, 1, now - 99)])
    plain = ("r-b", [m("r-b", "posts", rid, "patch", {"tags": ["c"]}, 2, now - 50)])
    add = ("r-c", [m("r-c", "posts", rid, "patch", {"tags": {"$add": ["d"]}}, 2, now - 40)])
    for client, mutations in ((add, plain) if add_first else (plain, add)):
        push(http, client, mutations)
    # the plain write replaced the set the writer saw; the add, concurrent with it, is
    # absorbed by it (recorded in the audit) in either order
    assert record(http, "posts", rid)["data"] == {"tags": ["c"]}
    assert len(audit(http, rid)) == 1


# Issue 18: an operation onto a value of another type replaced it silently, with no audit
# entry: `$inc` onto "five" made it 1, `$add` onto "a" made it a list. It is now that
# mutation's rejection, naming the field and the type found; the record stays as it was.
MISMATCHES = [
    ("five", "$inc", 1, "string"), ({"a": 1}, "$inc", 1, "object"), ([1], "$inc", 2, "array"),
    (True, "$inc", 1, "boolean"), ("a", "$add", ["b"], "string"), (3, "$add", ["b"], "number"),
    ({"a": 1}, "$remove", ["a"], "object"), (False, "$remove", [False], "boolean"),
]


@pytest.mark.parametrize(("value", "op", "arg", "found"), MISMATCHES,
                         ids=[f"{op}-onto-{found}" for _, op, _, found in MISMATCHES])
def test_an_operation_onto_a_value_of_another_type_is_that_mutation_s_rejection(
        http, value, op, arg, found):
    rid = f"mismatch-{op[1:]}-{found}"
    now = int(time.time() * 1000)
    push(http, "t-a", [m("t-a", "posts", rid, "put", {"f": value, "g": 1}, 0, now - 10)])
    bad, next_one = push(http, "t-a", [
        m("t-a", "posts", rid, "patch", {"f": {op: arg}, "g": 2}, 1, now - 9),
        m("t-a", "posts", rid, "patch", {"g": 3}, 1, now - 8)])
    assert bad["status"] == "rejected" and bad["code"] == "operation_type_mismatch", bad
    assert bad["field"] == "f" and bad["found"] == found, bad
    assert f"found {found}" in bad["message"] and bad["message"].startswith("f: "), bad
    assert next_one["status"] == "applied", next_one  # the batch goes on
    assert record(http, "posts", rid)["data"] == {"f": value, "g": 3}
    assert audit(http, rid) == []


def test_an_operation_judged_against_a_concurrent_write_is_rejected_on_a_mismatch_too(http):
    # The merge path: another client wrote since the base, so the operation is merged;
    # its writer had seen the field's value (a string), so it cannot apply.
    now = int(time.time() * 1000)
    push(http, "u-a", [m("u-a", "posts", "mm-merge", "put", {"f": "x", "g": 1}, 0, now - 30)])
    push(http, "u-b", [m("u-b", "posts", "mm-merge", "patch", {"g": 2}, 1, now - 20)])
    (bad,) = push(http, "u-c", [m("u-c", "posts", "mm-merge", "patch",
                                  {"f": {"$inc": 1}, "h": 1}, 1, now - 10)])
    assert bad["status"] == "rejected" and bad["code"] == "operation_type_mismatch", bad
    assert record(http, "posts", "mm-merge")["data"] == {"f": "x", "g": 2}
    assert audit(http, "mm-merge") == []


def test_an_operation_onto_a_missing_or_null_field_starts_from_nothing(http):
    # null is no value (RFC 7396 writes it to remove a field): a counter from 0, an empty set.
    now = int(time.time() * 1000)
    push(http, "v-a", [m("v-a", "posts", "mm-null", "put", {"n": None, "s": None}, 0, now - 9)])
    (done,) = push(http, "v-a", [m("v-a", "posts", "mm-null", "patch",
                                   {"n": {"$inc": 2}, "s": {"$add": ["a"]},
                                    "m": {"$inc": 1}, "t": {"$remove": ["b"]}}, 1, now - 8)])
    assert done["status"] == "applied", done
    assert record(http, "posts", "mm-null")["data"] == {"n": 2, "s": ["a"], "m": 1, "t": []}
