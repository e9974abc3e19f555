"""The hostile connections of ``python -m load.hostile``, one coroutine per kind.

Each attacker speaks raw HTTP/1.1 or WebSocket over an asyncio stream (cheap enough to
hold thousands from one process), holds its connection the way an attacker would until
``stop`` is set, and reconnects when the server closes it (a timeout, a limit), so that
the server faces the full count for the whole hold. Non-readers ask the kernel for a
small receive buffer and read nothing: what the server sent them stays on the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# What each kind does, for --help and the report.
KINDS = {
    "slow-reader": "GET a page of large records (limit=1000) and read 1 KB a second",
    "ws-stalled": "open a WebSocket, subscribe to the large space from cursor zero, read "
                  "nothing",
    "sub-flood": "open a WebSocket and send subscribe frames without end, read nothing",
    "long-poll": "long-poll a space name nobody ever writes, again and again",
    "slow-headers": "send a request's headers a line every few seconds, never finishing",
    "slow-body": "send a push's headers, then its body a byte every few seconds",
    "header-flood": "send a request header that never ends, as fast as the server reads "
                    "(up to 1 MB a connection), again and again",
}
SMALL_BUFFER = 4096  # the attacker's receive buffer: the server keeps what it sent


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    big_space: str  # holds the large records
    run: str  # run id: space names of this run only
    max_wait: float  # the server's longest long-poll
    token: str | None = None
    drip: float = 2.0  # seconds between two bytes (or lines) of a slow sender
    flood_frames: int = 2000  # subscribe frames one flooding connection sends
    flood_header_bytes: int = 1_000_000  # of one header a flooding connection sends

    def auth(self) -> bytes:
        return f"Authorization: Bearer {self.token}\r\n".encode() if self.token else b""


@dataclass
class Tally:
    """What the attackers did: counts by kind and event (opened, closed_by_server, ...)."""

    counts: Counter[str] = field(default_factory=Counter)
    open_now: Counter[str] = field(default_factory=Counter)
    # (whole second of CLOCK_MONOTONIC, kind.event) -> count: when things happened
    timeline: Counter[tuple[int, str]] = field(default_factory=Counter)

    def add(self, kind: str, event: str, n: int = 1) -> None:
        self.counts[f"{kind}.{event}"] += n
        self.timeline[(int(time.monotonic()), f"{kind}.{event}")] += n


async def _connect(target: Target, small_buffer: bool
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(
            sock, (target.host, target.port)), 30)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=SMALL_BUFFER if small_buffer
                                         else 1 << 16)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """True when `stop` was set within `seconds`."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _closed_by_server(reader: asyncio.StreamReader, stop: asyncio.Event,
                            seconds: float) -> bool:
    """Wait up to `seconds` for the server to close (or answer): True if it did."""
    read = asyncio.ensure_future(reader.read(1 << 16))
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({read, stopped}, timeout=seconds,
                                 return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if read not in done:
        read.cancel()
    with contextlib.suppress(asyncio.CancelledError, OSError):
        await read
    # bytes (an answer such as 408), b"" (closed) or a reset: any ends this try
    return read.done() and not read.cancelled()


def ws_frame(message: dict[str, Any]) -> bytes:
    """A masked text frame (clients must mask; a zero mask leaves the payload as is)."""
    payload = orjson.dumps(message)
    n = len(payload)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 65536:
        head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def _ws_open(target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await _connect(target, small_buffer=True)
    key = base64.b64encode(os.urandom(16))
    writer.write(b"GET /v1/ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n" % (target.host.encode(), target.port, key))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise ConnectionRefusedError(head.split(b"\r\n", 1)[0].decode("latin-1"))
    if target.token:
        writer.write(ws_frame({"type": "hello", "token": target.token}))
    return reader, writer


async def slow_reader(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    request = (b"GET /v1/changes?space=%s&limit=1000 HTTP/1.1\r\nHost: x\r\n%s\r\n"
               % (target.big_space.encode(), target.auth()))
    while not stop.is_set():
        reader, writer = await _connect(target, small_buffer=True)
        tally.add("slow-reader", "opened")
        try:
            writer.write(request)
            while not stop.is_set():
                chunk = await reader.read(1024)
                if not chunk:
                    tally.add("slow-reader", "closed_by_server")
                    break
                if await _sleep_or_stop(stop, 1.0):
                    return
        finally:
            writer.close()


async def ws_stalled(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    while not stop.is_set():
        reader, writer = await _ws_open(target)
        tally.add("ws-stalled", "opened")
        try:
            writer.write(ws_frame({"type": "subscribe", "space": target.big_space}))
            # Reads nothing: waits for the hold to end, or for the server to drop it (its
            # keep-alive ping times out, or the connection is a slow consumer).
            while not stop.is_set():
                if writer.transport.is_closing() or reader.at_eof():
                    tally.add("ws-stalled", "closed_by_server")
                    break
                if await _sleep_or_stop(stop, 1.0):
                    return
        finally:
            writer.close()


@functools.lru_cache(maxsize=8)
def _flood_template(target: Target) -> tuple[bytes, list[bytes]]:
    """The frames of one flood, with NNNNNN standing for the attacker's number (built
    once: rebuilding them on every reconnect cost the tool more CPU than the server)."""
    first = ws_frame({"type": "subscribe", "space": target.big_space})
    return first, [ws_frame({"type": "subscribe", "space": f"{target.run}-fNNNNNN-{k:05d}"})
                   for k in range(target.flood_frames - 1)]


def _flood_frames(target: Target, n: int) -> list[bytes]:
    first, rest = _flood_template(target)
    tag = b"%06d" % n
    return [first, *(frame.replace(b"NNNNNN", tag) for frame in rest)]


async def sub_flood(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    while not stop.is_set():
        reader, writer = await _ws_open(target)
        tally.add("sub-flood", "opened")
        try:
            frames = _flood_frames(target, n)
            sent = 0
            for start in range(0, len(frames), 100):
                writer.write(b"".join(frames[start:start + 100]))
                # The server stops reading once its answers to us back up: so do we.
                drain = asyncio.ensure_future(writer.drain())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({drain, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if stop.is_set():
                    drain.cancel()
                    tally.add("sub-flood", "frames_sent", sent)
                    return
                if drain.exception() is not None:
                    break
                sent += min(100, len(frames) - start)
            tally.add("sub-flood", "frames_sent", sent)
            while not stop.is_set():
                if writer.transport.is_closing() or reader.at_eof():
                    tally.add("sub-flood", "closed_by_server")
                    break
                if await _sleep_or_stop(stop, 1.0):
                    return
        finally:
            writer.close()


async def long_poll(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    k = 0
    while not stop.is_set():
        reader, writer = await _connect(target, small_buffer=False)
        tally.add("long-poll", "opened")
        try:
            while not stop.is_set():
                k += 1
                writer.write(b"GET /v1/changes?space=%s-p%d-%d&wait=%g HTTP/1.1\r\nHost: x\r\n"
                             b"%s\r\n" % (target.run.encode(), n, k, target.max_wait,
                                          target.auth()))
                head = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({head, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if stop.is_set():
                    head.cancel()
                    return
                raw = head.result()
                length = next((int(line.split(b":")[1]) for line in raw.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                tally.add("long-poll", "answered")
        except (asyncio.IncompleteReadError, OSError):
            tally.add("long-poll", "closed_by_server")
        finally:
            writer.close()


async def slow_headers(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    while not stop.is_set():
        reader, writer = await _connect(target, small_buffer=False)
        tally.add("slow-headers", "opened")
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            while not stop.is_set():
                if await _closed_by_server(reader, stop, target.drip):
                    tally.add("slow-headers", "closed_by_server")
                    break
                writer.write(b"X-Slow: %d\r\n" % n)  # one more header line, never the end
        finally:
            writer.close()


async def slow_body(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    while not stop.is_set():
        reader, writer = await _connect(target, small_buffer=False)
        tally.add("slow-body", "opened")
        try:
            writer.write(b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 100000\r\n%s\r\n{" % target.auth())
            while not stop.is_set():
                if await _closed_by_server(reader, stop, target.drip):
                    tally.add("slow-body", "closed_by_server")
                    break
                writer.write(b" ")  # a byte of the body now and then
        finally:
            writer.close()


FLOOD_CHUNK = b"a" * 65_536


async def header_flood(target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    """One header value without end: a bounded server answers 431 (or closes) once its
    header limit is past; then again, on a new connection."""
    while not stop.is_set():
        reader, writer = await _connect(target, small_buffer=False)
        tally.add("header-flood", "opened")
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood-%d: " % n)
            sent = 0
            while sent < target.flood_header_bytes and not reader.at_eof():
                writer.write(FLOOD_CHUNK)
                sent += len(FLOOD_CHUNK)
                drain = asyncio.ensure_future(writer.drain())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({drain, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if stop.is_set():
                    drain.cancel()
                    return
                if drain.exception() is not None:  # reset: the server closed it
                    break
            tally.add("header-flood", "bytes_sent", sent)
            # An unbounded server is still waiting for the header's end: hold it until
            # it gives up (its header timeout) or the run ends.
            if await _closed_by_server(reader, stop, 3600):
                tally.add("header-flood", "closed_by_server")
        finally:
            writer.close()


Attacker = Callable[[Target, int, asyncio.Event, Tally], Awaitable[None]]
ATTACKERS: dict[str, Attacker] = {
    "slow-reader": slow_reader, "ws-stalled": ws_stalled, "sub-flood": sub_flood,
    "long-poll": long_poll, "slow-headers": slow_headers, "slow-body": slow_body,
    "header-flood": header_flood,
}


async def hold(kind: str, target: Target, n: int, stop: asyncio.Event, tally: Tally) -> None:
    """Run one attacker until `stop`; a failure to connect is counted and retried."""
    while not stop.is_set():
        tally.open_now[kind] += 1
        try:
            await ATTACKERS[kind](target, n, stop, tally)
        except (OSError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as exc:
            tally.add(kind, "refused" if isinstance(exc, ConnectionRefusedError) else
                      "failed")
            await _sleep_or_stop(stop, 0.5)
        finally:
            tally.open_now[kind] -= 1
