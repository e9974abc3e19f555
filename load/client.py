"""A simulated offline-first client, speaking the protocol the browser client speaks:
an outbox of mutations with client id, mid, base version and HLC stamp; a local store; a
cursor per space pulled over HTTP or followed over the WebSocket."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from load.hlc import HLC
from load.http import HttpConnection, HttpError, Response
from load.merge import apply_op
from load.recorder import Recorder
from load.stats import Stats

Key = tuple[str, str, str]  # (space, collection, id)
Record = dict[str, Any]  # {"version", "deleted", "data", "seq"}


def _hlc_of(record: dict[str, Any]) -> str:
    return record.get("hlc") or ""


class SimClient:
    def __init__(
        self,
        client_id: str,
        url: str,
        recorder: Recorder,
        stats: Stats,
        token: str | None = None,
        page_limit: int = 1000,
    ) -> None:
        self.client_id = client_id
        self.url = url
        self.token = token
        self.conn = HttpConnection(url, token)
        self.recorder = recorder
        self.stats = stats
        self.page_limit = page_limit
        self.hlc = HLC(client_id)
        self.mid = 0
        self.outbox: list[dict[str, Any]] = []
        self.store: dict[Key, Record] = {}
        self.cursors: dict[str, str] = {}
        self.max_seq: dict[str, int] = {}
        self._last_mid: dict[Key, int] = {}  # the latest local write per record
        # The newest version the server has shown us per record (feed, results). Push
        # results and live changes race (a conflict's record can arrive after a newer live
        # change), so nothing older than this may overwrite the store.
        self._confirmed: dict[Key, int] = {}
        self._pending: Counter[Key] = Counter()  # unanswered local writes per record
        self.on_change: Callable[[dict[str, Any], float], None] | None = None

    # -- local writes -------------------------------------------------------------------

    def write(
        self, space: str, collection: str, rid: str, op: str, data: Any = None
    ) -> dict[str, Any]:
        """Queue a write in the outbox and apply it optimistically to the local store."""
        key = (space, collection, rid)
        current = self.store.get(key)
        base = current["version"] if current else 0
        self.mid += 1
        mutation: dict[str, Any] = {
            "mid": self.mid,
            "space": space,
            "collection": collection,
            "id": rid,
            "op": op,
            "base_version": base,
            "hlc": self.hlc.stamp(),
        }
        if op != "delete":
            mutation["data"] = data
        new_data, deleted = apply_op(
            current["data"] if current else None, current["deleted"] if current else False, op, data
        )
        # The next write on this record is based on the version this one will create,
        # exactly as the protocol's example queues put (base 0) then patch (base 1).
        self.store[key] = {
            "version": base + 1,
            "deleted": deleted,
            "data": new_data,
            "seq": current["seq"] if current else 0,
        }
        self._last_mid[key] = self.mid
        self._pending[key] += 1
        self.outbox.append(mutation)
        return mutation

    # -- push ---------------------------------------------------------------------------

    def build_push(self, batch: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"client_id": self.client_id, "mutations": batch})

    async def push(
        self, batch: list[dict[str, Any]], drop_response: bool = False, body: bytes | None = None
    ) -> bool:
        """Send one batch. Returns True when results came back and were applied."""
        if body is None:
            body = self.build_push(batch)
        self.recorder.sent(self.client_id, batch)
        started = time.perf_counter()
        try:
            response = await self.conn.request("POST", "/v1/push", body, read=not drop_response)
        except HttpError as exc:
            self.stats.error(f"push_{exc.kind}", str(exc))
            return False
        if response is None:
            self.stats.count("dropped_responses")
            return False
        self.stats.observe("push", time.perf_counter() - started)
        if response.status == 413 and len(batch) > 1:
            # batch_too_large: nothing was stored; split it, as the browser client does
            self.stats.count("batches_split")
            half = len(batch) // 2
            first = await self.push(batch[:half])
            return await self.push(batch[half:]) and first
        if response.status != 200:
            self.stats.error(
                f"push_http_{response.status}", response.body[:300].decode("utf-8", "replace")
            )
            return False
        results = orjson.loads(response.body)["results"]
        self.stats.count("mutations", len(batch))
        self.stats.count("push_requests")
        self.apply_results(batch, results)
        return True

    def apply_results(self, batch: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        self.recorder.answered(self.client_id, results)
        by_mid = {m["mid"]: m for m in batch}
        # A result for a mutation no longer in the outbox is a replay's answer (the batch was
        # sent twice): it changes nothing locally.
        waiting = {m["mid"] for m in self.outbox}
        answered = set()
        outcomes: Counter[str] = Counter()
        store, confirmed, pending, last_mid = (self.store, self._confirmed, self._pending,
                                               self._last_mid)
        for result in results:
            mid = result.get("mid", -1)
            mutation = by_mid.get(mid)
            if mutation is None:
                self.stats.error("result_for_unknown_mid", repr(result)[:300])
                continue
            answered.add(mid)
            status = str(result.get("status"))
            outcomes[status if not result.get("duplicate") else f"{status}_duplicate"] += 1
            if mid not in waiting:
                continue
            key = (mutation["space"], mutation["collection"], mutation["id"])
            pending[key] -= 1
            if status == "applied":
                version = result["version"]
                if version >= confirmed.get(key, 0):
                    confirmed[key] = version
                    local = store.get(key)
                    if local is not None and last_mid.get(key) == mid:
                        # our optimistic data is the server's data at this version
                        store[key] = {**local, "version": version, "seq": result["seq"]}
                self._see_seq(mutation["space"], result.get("seq", 0))
            elif status in ("merged", "conflict"):
                record = result.get("record")
                if record:
                    self._store_record(record)
            else:
                code = result.get("code", "?")
                self.stats.error(f"rejected_{code}", result.get("message", ""))
        self.stats.outcomes.update(outcomes)
        if answered:
            self.outbox = [m for m in self.outbox if m["mid"] not in answered]

    async def flush(self, batch_size: int, attempts: int = 5) -> bool:
        """Push the whole outbox, replaying unanswered batches as a service worker would."""
        for _ in range(attempts):
            while self.outbox:
                batch = self.outbox[:batch_size]
                if not await self.push(batch):
                    break
            if not self.outbox:
                return True
        return not self.outbox

    # -- pull ---------------------------------------------------------------------------

    def _see_seq(self, space: str, seq: int) -> None:
        if seq > self.max_seq.get(space, 0):
            self.max_seq[space] = seq

    def _store_record(self, record: dict[str, Any]) -> None:
        """A result's record is the server's state: it replaces local optimistic state, but
        never a newer state the feed already delivered."""
        key = (record["space"], record["collection"], record["id"])
        self.hlc.observe(record.get("hlc"))
        if record["version"] >= self._confirmed.get(key, 0):
            self._confirmed[key] = record["version"]
            self.store[key] = {
                "version": record["version"],
                "deleted": record.get("deleted", False),
                "data": record.get("data"),
                "seq": record.get("seq", 0),
            }
        self._see_seq(record["space"], record.get("seq", 0))

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        """The hot path of pulls and live feeds: a change dict (freshly decoded, owned by this
        client) becomes the local record as is, and the clock observes the page's latest stamp
        once: a reader must keep up with 100,000+ changes/s on one core."""
        if not changes:
            return
        now = time.perf_counter()
        store, confirmed, pending = self.store, self._confirmed, self._pending
        for change in changes:
            key = (change["space"], change["collection"], change["id"])
            version = change["version"]
            if version < confirmed.get(key, 0):
                continue  # older than what a push result already told us
            confirmed[key] = version
            # keep a pending optimistic write unless the change is at least as new
            if pending.get(key) and (local := store.get(key)) and version < local["version"]:
                continue
            store[key] = change
        self.hlc.observe(max(map(_hlc_of, changes)))
        # A page (HTTP or WebSocket) holds one space in seq order: its last change is its max.
        self._see_seq(changes[-1]["space"], changes[-1]["seq"])
        if self.on_change is not None:
            for change in changes:
                self.on_change(change, now)

    def drop_space(self, space: str) -> None:
        self.store = {k: v for k, v in self.store.items() if k[0] != space}
        self._confirmed = {k: v for k, v in self._confirmed.items() if k[0] != space}
        self.cursors.pop(space, None)

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
                    self.stats.error(
                        f"pull_http_{response.status}",
                        response.body[:300].decode("utf-8", "replace"),
                    )
                    return total
                tail = _page_tail(response.body)
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

    async def _get_page(self, space: str, cursor: str) -> Response:
        path = f"/v1/changes?space={quote(space)}&since={quote(cursor)}&limit={self.page_limit}"
        started = time.perf_counter()
        response = await self.conn.request("GET", path)
        assert response is not None
        self.stats.observe("pull", time.perf_counter() - started)
        return response

    async def close(self) -> None:
        await self.conn.close()


def _page_tail(body: bytes) -> dict[str, Any] | None:
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
