"""A simulated offline-first client, speaking the protocol the browser client speaks:
an outbox of mutations with client id, mid, base version and HLC stamp; a local store; a
cursor per space pulled over HTTP or followed over the WebSocket."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from load.hlc import HLC
from load.http import HttpConnection, HttpError
from load.merge import apply_op
from load.pulls import Pulling
from load.recorder import Sink
from load.replica import ClientStore, Held, Key, Replicas
from load.stats import Stats

Record = dict[str, Any]  # {"version", "deleted", "data", "seq"}


def _hlc_of(record: dict[str, Any]) -> str:
    return record.get("hlc") or ""


class SimClient(Pulling):
    """``store`` is the client's confirmed copy: records exactly as the server has shown
    them (feed, results). ``local`` overlays the optimistic state of records with writes
    still in the outbox, as the browser client's view does."""

    def __init__(
        self,
        client_id: str,
        url: str,
        recorder: Sink,
        stats: Stats,
        token: str | None = None,
        page_limit: int = 1000,
        replicas: Replicas | None = None,
    ) -> None:
        self.client_id = client_id
        self.url = url
        self.token = token
        self.conn = HttpConnection(url, token)
        self.recorder = recorder
        self.stats = stats
        self.page_limit = page_limit
        self.hlc = HLC(client_id)  # protocol 2: the HLC node is the client id
        self.mid = 0
        self.outbox: list[dict[str, Any]] = []
        # records are stored once per run, not once per client (load/replica.py)
        self.store = ClientStore(replicas)
        self.local: dict[Key, Record] = {}
        self.cursors: dict[str, str] = {}
        self.max_seq: dict[str, int] = {}
        self._pending: Counter[Key] = Counter()  # unanswered local writes per record
        self.on_change: Callable[[dict[str, Any], float], None] | None = None
        # --read-only-clients: this client's token cannot write; `forbidden` is its answer
        self.expect_forbidden = False
        # --revocations: spaces its current token no longer grants (load/grants.py): their
        # pushes and pulls are answered `forbidden`, as they must be
        self.revoked: set[str] = set()

    def set_token(self, token: str) -> None:
        """A refreshed token, for every request from now on (the WebSocket: WsFeed.reauth)."""
        self.token = token
        self.conn.set_token(token)

    def forget_space(self, space: str) -> None:
        """A revoked space: its confirmed copy, cursor and highest seq are dropped, as the
        browser client drops a revoked space's local data (the outbox is kept: its writes
        to the space come back `forbidden`)."""
        self.drop_space(space)
        self.max_seq.pop(space, None)

    # -- local writes -------------------------------------------------------------------

    def view(self, key: Key) -> Held | None:
        """What the app sees: the optimistic state, else the confirmed copy."""
        return self.local.get(key) or self.store.get(key)

    def write(
        self, space: str, collection: str, rid: str, op: str, data: Any = None
    ) -> dict[str, Any]:
        """Queue a write in the outbox and apply it optimistically to the local view.

        Protocol 2: ``base_version`` is the version of the confirmed copy, whatever this
        client queued on the record before (the server does not count the client's own
        queued writes as concurrent changes)."""
        key = (space, collection, rid)
        confirmed = self.store.get(key)
        current = self.local.get(key) or confirmed
        self.mid += 1
        mutation: dict[str, Any] = {
            "mid": self.mid,
            "space": space,
            "collection": collection,
            "id": rid,
            "op": op,
            "base_version": confirmed["version"] if confirmed else 0,
            "hlc": self.hlc.stamp(),
        }
        if op != "delete":
            mutation["data"] = data
        new_data, deleted = apply_op(
            current["data"] if current else None, current["deleted"] if current else False, op, data
        )
        self.local[key] = {
            "version": (current["version"] if current else 0) + 1,
            "deleted": deleted,
            "data": new_data,
            "seq": current["seq"] if current else 0,
        }
        self._pending[key] += 1
        self.outbox.append(mutation)
        return mutation

    def queue_raw(self, mutation: dict[str, Any]) -> dict[str, Any]:
        """Queue a prepared mutation (a poison one, see load/chaos/poison.py) under this
        client's next mid, without touching the local view."""
        self.mid += 1
        mutation["mid"] = self.mid
        self.outbox.append(mutation)
        return mutation

    # -- push ---------------------------------------------------------------------------

    def build_push(self, batch: list[dict[str, Any]]) -> bytes:
        head = orjson.dumps({"client_id": self.client_id, "protocol": 2})[:-1]
        if not any("raw" in m for m in batch):
            return head + b',"mutations":' + orjson.dumps(batch) + b"}"
        # Poison mutations carry their own bytes (JSON that orjson would not render).
        parts = [m["raw"](m["mid"]) if "raw" in m else orjson.dumps(m) for m in batch]
        return head + b',"mutations":[' + b",".join(parts) + b"]}"

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
            detail = response.body[:300].decode("utf-8", "replace")
            self.recorder.failed(self.client_id, batch, response.status, detail)
            self.stats.error(f"push_http_{response.status}", detail)
            return False
        results = orjson.loads(response.body)["results"]
        self.stats.count("push_requests")
        self.apply_results(batch, results)
        return True

    def apply_results(self, batch: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        self.recorder.answered(self.client_id, results, batch)
        by_mid = {m["mid"]: m for m in batch}
        # A result for a mutation no longer in the outbox is a replay's answer (the batch was
        # sent twice): it changes nothing locally.
        waiting = {m["mid"] for m in self.outbox}
        answered = set()
        outcomes: Counter[str] = Counter()
        first = 0
        pending = self._pending
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
            first += 1
            if "poison" in mutation:
                # expected to be refused; the checker judges the outcome
                self.stats.count(f"poison_{status}")
                continue
            key = (mutation["space"], mutation["collection"], mutation["id"])
            pending[key] -= 1
            if pending[key] <= 0:
                del pending[key]
                self.local.pop(key, None)  # nothing queued: the view is the confirmed copy
            if mutation["space"] in self.revoked and status != "rejected":
                self.stats.error("revoked_write_accepted", f"{self.client_id} {key}")
            elif status == "applied":
                self._applied(key, mutation, result)
            elif status in ("merged", "conflict"):
                record = result.get("record")
                if record:
                    self._store_record(record)
            else:
                code = result.get("code", "?")
                if mutation.get("expect") == "rejected":
                    self.stats.count(f"expected_rejection_{code}")
                elif code == "forbidden" and self.expect_forbidden:
                    self.stats.count("forbidden_rejections")
                elif code == "forbidden" and mutation["space"] in self.revoked:
                    self.stats.count("revoked_writes_forbidden")
                else:
                    self.stats.error(f"rejected_{code}", result.get("message", ""))
        self.stats.outcomes.update(outcomes)
        # new mutations vs replays: a mutation counts as new once, when first acknowledged
        self.stats.answered(first=first, total=sum(outcomes.values()))
        if answered:
            self.outbox = [m for m in self.outbox if m["mid"] not in answered]

    def _applied(self, key: Key, mutation: dict[str, Any], result: dict[str, Any]) -> None:
        """The server applied our write whole: when it did so on top of exactly the version
        we hold, the new state is ours to compute (operations included: nothing concurrent
        was settled); otherwise (versions in between that we have not seen) the feed will
        bring it."""
        version = result["version"]
        self._see_seq(mutation["space"], result.get("seq", 0))
        current = self.store.get(key)
        if version != (current["version"] if current else 0) + 1:
            return
        data, deleted = apply_op(
            current["data"] if current else None,
            current["deleted"] if current else False,
            mutation["op"],
            mutation.get("data"),
        )
        space, collection, rid = key
        self.store.keep(key, {  # its own computation: never the shared state
            "space": space,
            "collection": collection,
            "id": rid,
            "version": version,
            "seq": result["seq"],
            "deleted": deleted,
            "data": None if deleted else data,
        })

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
        """A result's record is the server's state: it replaces the confirmed copy, unless
        the feed already delivered a newer one (push results and live changes race)."""
        key = (record["space"], record["collection"], record["id"])
        self.hlc.observe(record.get("hlc"))
        self.store.offer(key, record)
        self._see_seq(record["space"], record.get("seq", 0))

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        """The hot path of pulls and live feeds: a change dict (freshly decoded, owned by this
        client) becomes the confirmed record as is, and the clock observes the page's latest
        stamp once: a reader must keep up with 100,000+ changes/s on one core."""
        if not changes:
            return
        now = time.perf_counter()
        offer = self.store.offer  # keeps what it holds when that is newer (a push result)
        for change in changes:
            offer((change["space"], change["collection"], change["id"]), change)
        self.hlc.observe(max(map(_hlc_of, changes)))
        # A page (HTTP or WebSocket) holds one space in seq order: its last change is its max.
        self._see_seq(changes[-1]["space"], changes[-1]["seq"])
        if self.on_change is not None:
            for change in changes:
                self.on_change(change, now)

    def drop_space(self, space: str) -> None:
        """resync_required / bad_cursor: forget the confirmed copy, keep the outbox."""
        self.store.drop_space(space)
        self.cursors.pop(space, None)

    async def close(self) -> None:
        await self.conn.close()
