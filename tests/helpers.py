"""Small builders and checks shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

_counter = itertools.count()
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> T:
    """Poll `predicate` until it returns something true, and return that; past `timeout`
    seconds fail naming `what` was awaited. Tests wait for the state itself (a metric, a
    file, a log line), never for a guess of how long it takes to come."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def wait_for_async(predicate: Callable[[], Awaitable[T] | T], timeout: float = 10.0,
                         interval: float = 0.02, what: str = "condition") -> T:
    """wait_for in an event loop: `predicate` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def metric_value(text: str, name: str, labels: str = "") -> float:
    """A sample of Prometheus text (0 when absent): `labels` as written between braces."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def hlc(node: str = "c1", ms: int | None = None) -> str:
    return f"{ms or int(time.time() * 1000):013d}:{next(_counter) % 100000:05d}:{node}"


def mutation(mid: int, record_id: str, op: str = "put", data: Any = None, base: int = 0,
             space: str = "s1", collection: str = "todos", node: str = "c1") -> dict:
    m = {"mid": mid, "space": space, "collection": collection, "id": record_id, "op": op,
         "base_version": base, "hlc": hlc(node)}
    if op != "delete":
        m["data"] = data if data is not None else {"title": f"item {record_id}"}
    return m


def stamped_by(client_id: str, mutations: list) -> list:
    """The mutations with the HLC node of every well-formed stamp set to `client_id`, in
    place (a replay of the same list is the same batch): the protocol requires the node to
    be the pushing client's id."""
    for m in mutations:
        stamp = m.get("hlc") if isinstance(m, dict) else None
        if isinstance(stamp, str) and len(stamp) > 20 and stamp[13] == ":" and stamp[19] == ":":
            m["hlc"] = stamp[:20] + client_id
    return mutations


def push(client: httpx.Client, client_id: str, mutations: list[dict]) -> dict:
    """POST a batch (stamped_by its client)."""
    stamped_by(client_id, mutations)
    response = client.post("/v1/push", json={"client_id": client_id, "mutations": mutations})
    assert response.status_code == 200, response.text
    return response.json()


def pull_all(client: httpx.Client, space: str = "s1", since: str = "",
             limit: int = 1000) -> tuple[dict[tuple[str, str], dict], str]:
    """Follow cursors to the end; the state as {(collection, id): record}."""
    state: dict[tuple[str, str], dict] = {}
    while True:
        response = client.get("/v1/changes", params={"space": space, "since": since,
                                                     "limit": limit})
        assert response.status_code == 200, response.text
        page = response.json()
        for change in page["changes"]:
            state[(change["collection"], change["id"])] = change
        since = page["cursor"]
        if not page["more"]:
            return state, since


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    """The error contract: status, problem+json media type, fixed body shape, stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= {"type", "title", "status", "code", "detail"}, body
    assert body["status"] == status and body["code"] == code, body
    assert body["detail"], body
    return body
