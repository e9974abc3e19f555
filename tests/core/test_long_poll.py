"""Long-poll (`wait=`): woken promptly by a change, not by other collections."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from tests.helpers import mutation, push, wait_for

from .support import metric, pull


def _waiting(http: httpx.Client, polls: int) -> None:
    """Until `polls` long-polls wait in the server: a push before that would be read by
    the poll's first look, and would not show that a change wakes a waiting one."""
    wait_for(lambda: metric(http, "syncserver_long_polls_waiting") >= polls,
             what=f"{polls} long-polls waiting in the server")


def _poll(url: str, space: str, since: str, wait: float, **params: Any) -> tuple[dict, float]:
    start = time.monotonic()
    with httpx.Client(base_url=url, timeout=wait + 30) as c:
        page = pull(c, space, since, wait=wait, **params)
    return page, time.monotonic() - start


def _head(http: httpx.Client, space: str) -> str:
    cursor: str = pull(http, space)["cursor"]
    return cursor


def test_long_poll_returns_promptly_on_a_new_change(http, shared_server, space):
    push(http, "c-lp-" + space, [mutation(1, "old", space=space)])
    cursor = _head(http, space)
    with ThreadPoolExecutor(1) as pool:
        waiting: Future = pool.submit(_poll, shared_server.url, space, cursor, 30)
        _waiting(http, 1)
        assert not waiting.done()
        push(http, "c-lp-" + space, [mutation(2, "new", space=space)])
        page, elapsed = waiting.result(timeout=10)
    assert elapsed < 5, f"the long-poll took {elapsed:.1f}s to see a change"
    assert [c["id"] for c in page["changes"]] == ["new"]
    assert page["cursor"] != cursor


def test_long_poll_with_changes_waiting_returns_at_once(http, shared_server, space):
    push(http, "c-lp-" + space, [mutation(1, "a", space=space)])
    page, elapsed = _poll(shared_server.url, space, "", 30)
    assert elapsed < 5 and [c["id"] for c in page["changes"]] == ["a"]


def test_long_poll_times_out_with_an_empty_page(http, shared_server, space):
    push(http, "c-lp-" + space, [mutation(1, "a", space=space)])
    cursor = _head(http, space)
    page, elapsed = _poll(shared_server.url, space, cursor, 0.5)
    assert page["changes"] == [] and page["more"] is False
    assert page["cursor"].split(".")[0] == cursor.split(".")[0]
    assert 0.45 <= elapsed < 5


def test_filtered_long_poll_is_not_woken_by_other_collections(http, shared_server, space):
    push(http, "c-lp-" + space, [mutation(1, "n0", space=space, collection="notes")])
    cursor = _head(http, space)
    wait = 1.5
    with ThreadPoolExecutor(1) as pool:
        waiting: Future = pool.submit(_poll, shared_server.url, space, cursor, wait,
                                      collections="notes")
        _waiting(http, 1)
        out = push(http, "c-lp-" + space, [mutation(2, "t1", space=space)])  # a todo
        page, elapsed = waiting.result(timeout=wait + 10)
    assert page["changes"] == []
    assert elapsed >= wait - 0.1, "a change of another collection ended the wait"
    # ... but the cursor moved past it, so the next poll does not read it again.
    assert page["cursor"].split(".")[0] == str(out["results"][0]["seq"])

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(_poll, shared_server.url, space, page["cursor"], 30,
                              collections="notes")
        _waiting(http, 1)
        push(http, "c-lp-" + space, [mutation(3, "t2", space=space),
                                      mutation(4, "n1", space=space, collection="notes")])
        page, elapsed = waiting.result(timeout=10)
    assert elapsed < 5 and [c["id"] for c in page["changes"]] == ["n1"]


def test_long_polls_of_many_readers_are_all_woken(http, shared_server, space):
    cursor = _head(http, space)
    barrier = threading.Barrier(6)

    def poll() -> tuple[dict, float]:
        barrier.wait()
        return _poll(shared_server.url, space, cursor, 30)

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(poll) for _ in range(5)]
        barrier.wait()
        _waiting(http, 5)
        push(http, "c-lp-" + space, [mutation(1, "x", space=space)])
        results = [f.result(timeout=10) for f in futures]
    for page, elapsed in results:
        assert elapsed < 5 and [c["id"] for c in page["changes"]] == ["x"]
