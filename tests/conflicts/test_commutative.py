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
