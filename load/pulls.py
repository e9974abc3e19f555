"""A simulated client's pulls over HTTP: one space (``GET /v1/changes``, pipelined) or many at
once (``POST /v1/pull``). A mixin of ``SimClient`` (load/client.py), which owns the state."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import orjson

from load.http import HttpConnection, HttpError, Response
from load.recorder import Sink
from load.stats import Stats


class Pulling:
    """What the pulls read and write of their client, declared for the type checker."""

    conn: HttpConnection
    stats: Stats
    recorder: Sink
    client_id: str
    page_limit: int
    cursors: dict[str, str]
    revoked: set[str]

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def drop_space(self, space: str) -> None:
        raise NotImplementedError

    async def pull(self, space: str, max_pages: int = 1_000_000) -> int:
        """Follow the cursor until ``more`` is false. Returns the number of changes read.

        Pipelined as a fast client would: the next page is requested (its cursor read from
        the tail of the body) before this page is decoded and applied, so the server
        renders page N+1 while the client stores page N."""
        total = 0
        ahead: asyncio.Task[Response] | None = None
        try:
            for _ in range(max_pages):
                cursor = self.cursors.get(space, "")
                try:
                    response = await (ahead or self._get_page(space, cursor))
                except HttpError as exc:
                    self.stats.error(f"pull_{exc.kind}", str(exc))
                    return total
                ahead = None
                if response.status in (400, 410):
                    code = orjson.loads(response.body).get("code", "")
                    self.stats.error(f"pull_{code or response.status}", cursor)
                    if code in ("resync_required", "bad_cursor"):
                        self.drop_space(space)  # the protocol's answer: pull again from ""
                        continue
                    return total
                if response.status != 200:
                    detail = response.body[:300].decode("utf-8", "replace")
                    self.stats.error(f"pull_http_{response.status}", detail)
                    if response.status >= 500:
                        self.recorder.server_errors.append(
                            (f"pull by {self.client_id}", response.status, detail))
                    return total
                tail = page_tail(response.body)
                if tail is not None and tail.get("more"):
                    ahead = asyncio.ensure_future(self._get_page(space, tail["cursor"]))
                    await asyncio.sleep(0)  # let it send before the CPU work below
                page = orjson.loads(response.body)
                self.apply_changes(page["changes"])
                self.cursors[space] = page["cursor"]
                total += len(page["changes"])
                self.stats.count("changes_pulled", len(page["changes"]))
                if not page.get("more"):
                    return total
            return total
        finally:
            if ahead is not None:
                ahead.cancel()

    async def pull_many(self, spaces: list[str]) -> int:
        """POST /v1/pull: every one of ``spaces`` caught up, one page budget per request,
        until none has more. Returns the number of changes read. A space answered
        resync_required or bad_cursor is pulled again from "" (its confirmed copy dropped,
        as pull() does); any other space error leaves that space. A server without POST
        /v1/pull (404) is pulled one space at a time."""
        total = 0
        wanted = list(spaces)
        while wanted:
            body = orjson.dumps({"cursors": {s: self.cursors.get(s, "") for s in wanted},
                                 "limit": self.page_limit})
            started = time.perf_counter()
            try:
                response = await self.conn.request("POST", "/v1/pull", body)
            except HttpError as exc:
                self.stats.error(f"pull_{exc.kind}", str(exc))
                return total
            assert response is not None
            self.stats.observe("pull_many", time.perf_counter() - started)
            if response.status == 404:  # a server without it (an older one, a toy): per space
                self.stats.count("pull_many_unsupported")
                for space in wanted:
                    total += await self.pull(space)
                return total
            if response.status != 200:
                detail = response.body[:300].decode("utf-8", "replace")
                self.stats.error(f"pull_http_{response.status}", detail)
                if response.status >= 500:
                    self.recorder.server_errors.append(
                        (f"pull by {self.client_id}", response.status, detail))
                return total
            wanted = []
            for space, page in orjson.loads(response.body)["spaces"].items():
                error = page.get("error")
                if error is not None and error["code"] == "forbidden" and space in self.revoked:
                    self.stats.count("revoked_pulls_forbidden")  # as it must be
                    continue
                if error is not None:
                    self.stats.error(f"pull_{error['code']}", space)
                    if error["code"] in ("resync_required", "bad_cursor"):
                        self.drop_space(space)
                        wanted.append(space)
                    continue
                self.apply_changes(page["changes"])
                self.cursors[space] = page["cursor"]
                total += len(page["changes"])
                self.stats.count("changes_pulled", len(page["changes"]))
                if page["more"]:
                    wanted.append(space)
        return total

    async def _get_page(self, space: str, cursor: str) -> Response:
        path = f"/v1/changes?space={quote(space)}&since={quote(cursor)}&limit={self.page_limit}"
        started = time.perf_counter()
        response = await self.conn.request("GET", path)
        assert response is not None
        self.stats.observe("pull", time.perf_counter() - started)
        return response


def page_tail(body: bytes) -> dict[str, Any] | None:
    """The cursor and `more` of a changes page, without decoding its changes: the server
    writes them after the array (docs/protocol.md). None if the body is shaped otherwise."""
    at = body.rfind(b'],"cursor":')
    if at < 0:
        return None
    try:
        tail = orjson.loads(b"{" + body[at + 2:])
    except orjson.JSONDecodeError:
        return None
    return tail if isinstance(tail, dict) and isinstance(tail.get("cursor"), str) else None
