"""A simulated client's WebSocket feed: hello, subscribe from its cursor, apply catch-up and
live pages, follow ``resync`` instructions, reconnect from the last cursor when dropped."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import orjson
from websockets.exceptions import InvalidHandshake

from load.client import SimClient
from load.wsconn import WsTransport, open_ws


def ws_url(http_url: str) -> str:
    return "ws" + http_url.rstrip("/")[4:] + "/v1/ws"


SLOW_RCVBUF = 4096  # bytes: a slow consumer's socket receive buffer


class WsFeed:
    """``slow``: a consumer that reads in fits (stops reading for up to 2.5 s at a time,
    behind a small receive buffer), so the server tells it to resync and closes it as a
    slow consumer; it reconnects from its last cursors and must still converge."""

    def __init__(
        self, client: SimClient, kind: str = "raw", max_reconnects: int = 5, slow: bool = False
    ) -> None:
        self.client = client
        self.kind = kind
        self.slow = slow
        self._dawdler: asyncio.Task[None] | None = None
        if slow:
            max_reconnects = 10_000  # reconnecting is its normal life; the run is bounded
        self.url = ws_url(client.url)
        self.spaces: list[str] = []
        self.synced: set[str] = set()
        # Spaces a refreshed token took away (reauth) whose `forbidden` end the server has not
        # sent yet: frames of their old subscription still on the way are ignored.
        self.ending: set[str] = set()
        self.max_reconnects = max_reconnects
        self._conn: WsTransport | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        self._dead = False
        self._progress = asyncio.Event()

    async def start(self, spaces: list[str], subscribe: bool = True) -> None:
        """Connect and say hello, then subscribe to every space in one burst of frames
        (``subscribe=False``: later, with subscribe_all)."""
        self.spaces = list(spaces)
        await self._connect(subscribe)
        self._watcher = asyncio.create_task(self._watch())
        if self.slow:
            self._dawdler = asyncio.create_task(self._dawdle())

    async def _dawdle(self) -> None:
        rng = random.Random(self.client.client_id)
        while True:
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            transport = getattr(self._conn, "transport", None)
            if transport is None or transport.is_closing():
                continue
            transport.pause_reading()
            try:
                await asyncio.sleep(rng.uniform(0.8, 2.5))
            finally:
                if not transport.is_closing():
                    transport.resume_reading()

    async def hurry(self) -> None:
        """Stop dawdling: read at full speed from now on (the settle phase)."""
        if self._dawdler is not None:
            self._dawdler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dawdler
            self._dawdler = None

    async def _connect(self, subscribe: bool = True) -> None:
        started = time.perf_counter()
        self._conn = await open_ws(
            self.url, self._on_message, self.kind, SLOW_RCVBUF if self.slow else None
        )
        self.client.stats.observe("ws_connect", time.perf_counter() - started)
        hello: dict[str, Any] = {"type": "hello", "client_id": self.client.client_id}
        if self.client.token:
            hello["token"] = self.client.token
        await self._conn.send(orjson.dumps(hello).decode())
        self.synced.clear()
        self.ending.clear()  # a new connection: no old subscription to end
        if subscribe:
            await self.subscribe_all()

    async def subscribe_all(self) -> None:
        """One ``subscribe`` frame per space, sent in a burst (one socket write each, no
        wait for answers)."""
        for space in self.spaces:
            await self._subscribe(space)

    async def reauth(self, token: str, revoke: str | None = None, grant: str | None = None) -> None:
        """A ``hello`` with a refreshed token (the client's own, already set). ``revoke``: the
        token no longer grants that space, so the server ends its subscription with a
        `forbidden` error frame; ``grant``: a space the token grants again, subscribed from
        the client's cursor (empty: its copy was dropped at the revocation)."""
        if revoke is not None and revoke in self.spaces:
            self.spaces.remove(revoke)
            self.synced.discard(revoke)
            self.ending.add(revoke)
        if self._conn is None:
            return
        hello = {"type": "hello", "client_id": self.client.client_id, "token": token}
        await self._conn.send(orjson.dumps(hello).decode())
        if grant is not None and grant not in self.spaces:
            self.spaces.append(grant)
            await self._subscribe(grant)

    async def _subscribe(self, space: str) -> None:
        assert self._conn is not None
        cursor = self.client.cursors.get(space, "")
        message = {"type": "subscribe", "space": space, "cursor": cursor}
        await self._conn.send(orjson.dumps(message).decode())

    async def _watch(self) -> None:
        """Reconnect from the last cursor when the server drops us (e.g. slow consumer)."""
        stats = self.client.stats
        for _ in range(self.max_reconnects + 1):
            assert self._conn is not None
            code = await self._conn.closed
            if self._closing:
                return
            if self.slow and code == 4408:
                stats.count("slow_consumer_closes")  # expected: it reconnects and resumes
            else:
                stats.error(f"ws_closed_{code}", self.client.client_id)
            for attempt in range(10):
                try:
                    await self._connect()
                    break
                except (OSError, InvalidHandshake, TimeoutError) as exc:
                    stats.error("ws_connect_error", str(exc))
                    await asyncio.sleep(0.1 * (attempt + 1))
            else:
                break
        self._dead = True
        self._progress.set()

    def _on_message(self, raw: bytes | str) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.client.stats.error("ws_bad_frame", str(exc))
            return
        self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        client = self.client
        if self.ending and message.get("space") in self.ending:
            self._ending(message)
        elif kind == "changes":
            client.apply_changes(message["changes"])
            client.cursors[message["space"]] = message["cursor"]
            client.stats.count("changes_delivered", len(message["changes"]))
            self._progress.set()
        elif kind == "synced":
            client.cursors[message["space"]] = message["cursor"]
            self.synced.add(message["space"])
            self._progress.set()
        elif kind == "resync":
            space = message.get("space", "")
            if self.slow and message.get("code") == "slow_consumer":
                client.stats.count("slow_consumer_resyncs")
            else:
                client.stats.error(f"ws_resync_{message.get('code')}", message.get("detail", ""))
            # slow_consumer: the server closes with 4408; _watch reconnects from the cursor.
            if message.get("code") == "resync_required":
                client.drop_space(space)
                asyncio.get_running_loop().create_task(self._subscribe(space))
        elif kind == "error":
            client.stats.error(f"ws_error_{message.get('code')}", message.get("detail", ""))
            if message.get("code") == "internal_error":
                client.recorder.server_errors.append(
                    (f"ws of {client.client_id}", 500, str(message)[:300]))
        elif kind not in ("pong", "push_result", "welcome"):  # welcome: the hello's answer
            client.stats.error("ws_unknown_message", str(kind))

    def _ending(self, message: dict[str, Any]) -> None:
        """A frame of a space whose subscription a refreshed token ended: its last frame is
        the server's `forbidden` error; anything before it (changes sent before the server
        read the hello) is dropped, as the client dropped the space."""
        space = message["space"]
        if message.get("type") == "error" and message.get("code") == "forbidden":
            self.ending.discard(space)
            self.client.stats.count("subscriptions_ended_forbidden")
            self._progress.set()
        else:
            self.client.stats.count("frames_after_revocation")

    async def wait_progress(self, timeout: float) -> None:
        """Until the next frame that moved something (or ``timeout``)."""
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout)

    async def wait_for_seq(self, targets: dict[str, int], timeout: float) -> bool:
        """Wait until the feed delivered every space up to ``targets`` (seq per space)."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self.client.max_seq.get(s, 0) >= seq for s, seq in targets.items()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._dead:
                return False
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(s in self.synced for s in self.spaces):
            if time.monotonic() > deadline or self._dead:
                return False
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), 0.5)
            except TimeoutError:
                pass
        return True

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        await self.hurry()
        if self._conn is not None:
            await self._conn.close()
        if self._watcher is not None:
            self._watcher.cancel()
            try:
                await self._watcher
            except asyncio.CancelledError:
                pass
