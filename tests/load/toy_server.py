"""A deliberately small, in-memory implementation of the push and changes endpoints, with
switchable faults. It is the test subject for the convergence checker: the checker must
find the fault. It is not a model of syncserver and no other test should use it."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import wait_for

FAULTS = (None, "drop_write", "apply_twice", "skip_in_feed")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


class ToyServer:
    def __init__(self, fault: str | None = None, every: int = 7) -> None:
        assert fault in FAULTS
        self.fault = fault
        self.every = every  # the fault hits every Nth applied mutation
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.seq: dict[str, int] = {}
        self.done: dict[tuple[str, int], dict[str, Any]] = {}
        self.applied = 0
        self.hidden: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()
        self.authorization: set[str] = set()  # Authorization headers seen on pushes
        self.app = Starlette(
            routes=[
                Route("/v1/push", self.push, methods=["POST"]),
                Route("/v1/changes", self.changes),
                Route("/healthz", lambda r: _json({"status": "ok", "storage": "toy"})),
            ]
        )

    def _apply(self, mutation: dict[str, Any], again: bool = False) -> dict[str, Any]:
        key = (mutation["space"], mutation["collection"], mutation["id"])
        current = self.records.get(key)
        version = current["version"] if current else 0
        if mutation["base_version"] != version and not again:
            return {
                "mid": mutation["mid"],
                "status": "conflict",
                "code": "stale_base_version",
                "record": current,
            }
        op, data = mutation["op"], mutation.get("data")
        old = (current or {}).get("data") or {}
        if op == "patch" and isinstance(data, dict):  # shallow: the tool's patches are flat
            data = {**old, **{k: v for k, v in data.items() if v is not None}}
        self.seq[key[0]] = self.seq.get(key[0], 0) + 1
        record = {
            "space": key[0],
            "collection": key[1],
            "id": key[2],
            "version": version + 1,
            "seq": self.seq[key[0]],
            "deleted": op == "delete",
            "data": None if op == "delete" else data,
            "hlc": mutation["hlc"],
            "updated_at": int(time.time() * 1000),
        }
        self.applied += 1
        hit = self.applied % self.every == 0
        if not (self.fault == "drop_write" and hit):  # drop_write: acknowledge, keep nothing
            self.records[key] = record
        if self.fault == "skip_in_feed" and hit:
            self.hidden.add(key)
        return {
            "mid": mutation["mid"],
            "status": "applied",
            "version": version + 1,
            "seq": record["seq"],
        }

    async def push(self, request: Request) -> Response:
        self.authorization.add(request.headers.get("authorization", ""))
        doc = orjson.loads(await request.body())
        results = []
        with self.lock:
            for mutation in doc["mutations"]:
                key = (doc["client_id"], mutation["mid"])
                if key in self.done and self.fault != "apply_twice":
                    results.append({**self.done[key], "duplicate": True})
                    continue
                # apply_twice: a replay is applied again, as if there were no idempotency log
                result = self._apply(mutation, again=key in self.done)
                self.done.setdefault(key, result)
                results.append(result)
        return _json({"results": results, "cursors": {}})

    async def changes(self, request: Request) -> Response:
        space = request.query_params["space"]
        since = int(request.query_params.get("since") or 0)
        limit = int(request.query_params.get("limit") or 1000)
        with self.lock:
            rows = sorted(
                (r for k, r in self.records.items() if k[0] == space and r["seq"] > since),
                key=lambda r: r["seq"],
            )
        # skip_in_feed: an incremental reader never sees the hidden records (a feed gap);
        # a read from cursor zero does.
        if since:
            rows = [r for r in rows if (r["space"], r["collection"], r["id"]) not in self.hidden]
        page = rows[:limit]
        cursor = str(page[-1]["seq"]) if page else str(since)
        return _json({"changes": page, "cursor": cursor, "more": len(rows) > limit})


class RunningToy:
    """Serve a ToyServer with uvicorn in a thread, on a free loopback port."""

    def __init__(self, toy: ToyServer, keep_alive: int = 5) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            toy.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=keep_alive,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        wait_for(lambda: self.server.started, what="the toy server started")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
