"""A simulated client's WebSocket feed: hello, subscribe from its cursor, apply catch-up and
live pages, follow ``resync`` instructions, reconnect from the last cursor when dropped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from load.client import SimClient


def ws_url(http_url: str) -> str:
    return "ws" + http_url.rstrip("/")[4:] + "/v1/ws"


class WsFeed:
    def __init__(self, client: SimClient, max_reconnects: int = 5) -> None:
        self.client = client
        self.url = ws_url(client.url)
        self.spaces: list[str] = []
        self.synced: set[str] = set()
        self.max_reconnects = max_reconnects
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._progress = asyncio.Event()

    async def start(self, spaces: list[str]) -> None:
        self.spaces = list(spaces)
        await self._connect()
        self._task = asyncio.create_task(self._run())

    async def _connect(self) -> None:
        stats = self.client.stats
        started = time.perf_counter()
        # compression off: the server's CPU is what we measure, not zlib's.
        self._ws = await connect(self.url, max_size=None, compression=None, open_timeout=30)
        stats.observe("ws_connect", time.perf_counter() - started)
        hello: dict[str, Any] = {"type": "hello", "client_id": self.client.client_id}
        if self.client.token:
            hello["token"] = self.client.token
        await self._ws.send(orjson.dumps(hello).decode())
        self.synced.clear()
        for space in self.spaces:
            await self._subscribe(space)

    async def _subscribe(self, space: str) -> None:
        assert self._ws is not None
        message = {
            "type": "subscribe",
            "space": space,
            "cursor": self.client.cursors.get(space, ""),
        }
        await self._ws.send(orjson.dumps(message).decode())

    async def _run(self) -> None:
        stats = self.client.stats
        reconnects = 0
        while not self._closing:
            try:
                assert self._ws is not None
                async for raw in self._ws:
                    self._handle(orjson.loads(raw))
                if self._closing:
                    return
                stats.error("ws_closed", str(self._ws.close_code))
            except ConnectionClosed as exc:
                if self._closing:
                    return
                stats.error(f"ws_closed_{exc.rcvd.code if exc.rcvd else 'abnormal'}", str(exc))
            except orjson.JSONDecodeError as exc:
                stats.error("ws_bad_frame", str(exc))
            reconnects += 1
            if reconnects > self.max_reconnects:
                return
            await self._reconnect()

    async def _reconnect(self) -> None:
        for attempt in range(10):
            try:
                await self._connect()
                return
            except (TimeoutError, OSError, InvalidHandshake) as exc:
                self.client.stats.error("ws_connect_error", str(exc))
                await asyncio.sleep(0.1 * (attempt + 1))

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        client = self.client
        if kind == "changes":
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
            client.stats.error(f"ws_resync_{message.get('code')}", message.get("detail", ""))
            if message.get("code") == "resync_required":
                client.drop_space(space)
            # slow_consumer: the server closes with 4408; _run reconnects from the cursor.
            if message.get("code") == "resync_required" and self._ws is not None:
                asyncio.get_running_loop().create_task(self._subscribe(space))
        elif kind == "error":
            client.stats.error(f"ws_error_{message.get('code')}", message.get("detail", ""))
        elif kind not in ("pong", "push_result", "welcome"):  # welcome: the hello's answer
            client.stats.error("ws_unknown_message", str(kind))

    async def wait_for_seq(self, targets: dict[str, int], timeout: float) -> bool:
        """Wait until the feed delivered every space up to ``targets`` (seq per space)."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self.client.max_seq.get(s, 0) >= seq for s, seq in targets.items()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._task is None or self._task.done():
                return False
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(s in self.synced for s in self.spaces):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, ConnectionClosed):
                self._task.cancel()
