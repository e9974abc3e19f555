"""Cheap WebSocket receivers in a process of their own: many sockets that count frames.

The fan-out at thousands of subscribers costs the tool more than the server when every
subscriber decodes every frame (~14 us per delivered change, load/wsconn.py), so `fanout
--procs P` keeps a sample of decoding subscribers in the main process (they time each
change) and spreads the rest over P processes of these receivers: each reads its frames'
headers, skips their payloads, and counts the live `changes` frames (their JSON ends with
`"live":true}`). `python -m load idle` holds idle ones (a hello, no subscription) to weigh
the server's memory per connection (authenticated: a token per socket in its hello, minted
here from the secret in the environment variable LOAD_TOKEN_SECRET; subscribed to one of
`--spaces` spaces). Every receiver answers the server's pings, so a socket held idle for
minutes stays open.

Run as `python -m load.receivers URL COUNT --space S --first-host H`: prints `ready N` once
its sockets are connected (and subscribed, with --space: synced), then, at a line on its
standard input, one JSON line {"live": frames, "frames": all frames, "cpu_s": its CPU},
all three counted from `ready` on (the load, not the connecting).
Sources spread over 127.0.0.H, 127.0.0.H+1, ...: one address has ~28,000 ephemeral ports.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from urllib.parse import urlsplit

import orjson

from load.wsconn import client_frame

LIVE_TAIL = b'"live":true}'
SYNCED = b'"type":"synced"'
TAIL = 256  # bytes of a payload kept: a whole `synced` frame, a live frame's end
TEXT, PING, PONG = 0x1, 0x9, 0xA  # opcodes
TOKEN_SECRET = "LOAD_TOKEN_SECRET"  # environment: mint a token per socket (--auth jwt)
PER_SOURCE = 20_000  # connections per source address, under its ephemeral range
CONNECT_BURST = 200  # connections opened at once


class Receiver(asyncio.Protocol):
    """One socket: the handshake, then frames counted as their headers go by."""

    __slots__ = ("counts", "transport", "opened", "synced", "_buffer", "_skip", "_tail",
                 "_opcode")

    def __init__(self, counts: list[int]) -> None:
        self.counts = counts  # shared by the process's receivers: [live, frames]
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.synced: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._skip = 0  # payload bytes of the current frame still to come
        self._tail = b""  # the last TAIL bytes of the current frame's payload
        self._opcode = 0  # of the current frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.synced):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self._buffer + data if self._buffer else data
        self._buffer = b""
        if not self.opened.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buf
                return
            if b" 101 " not in buf[:end]:
                self.opened.set_exception(ConnectionError(buf[:end].split(b"\r\n")[0]))
                return
            self.opened.set_result(None)
            buf = buf[end + 4:]
        pos, n = 0, len(buf)
        while pos < n:
            if self._skip:  # inside a payload: keep only its end
                take = min(self._skip, n - pos)
                self._tail = (self._tail + buf[pos:pos + take])[-TAIL:]
                pos += take
                self._skip -= take
                if not self._skip:
                    self._frame_end()
                continue
            if n - pos < 2:
                break
            self._opcode = buf[pos] & 0x0F
            length, head = buf[pos + 1] & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            pos += head
            self._skip, self._tail = length, b""
            if not length:
                self._frame_end()
        self._buffer = buf[pos:]

    def _frame_end(self) -> None:
        if self._opcode == PING:  # (a control frame's payload is at most 125 bytes)
            if self.transport is not None:
                self.transport.write(client_frame(PONG, self._tail))
            return
        counts = self.counts
        counts[1] += 1
        if self._tail.endswith(LIVE_TAIL):
            counts[0] += 1
        elif not self.synced.done() and SYNCED in self._tail:
            self.synced.set_result(None)


async def open_receiver(host: str, port: int, source: str, counts: list[int],
                        path: str = "/v1/ws") -> Receiver:
    loop = asyncio.get_running_loop()
    transport, receiver = await loop.create_connection(
        lambda: Receiver(counts), host, port, local_addr=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await asyncio.wait_for(receiver.opened, 60)
    return receiver


def space_of(space: str, spaces: int, index: int) -> str:
    """The space of the index-th socket: `space` itself, or one of `spaces` named after it."""
    return space if spaces <= 1 else f"{space}-{index % spaces}"


def hello_of(index: int, space: str | None, secret: str | None) -> str:
    """The socket's hello: with a secret, a token of its own user that may read its space."""
    if secret is None:
        return '{"type":"hello"}'
    from load.auth import READ, mint_token

    token = mint_token(secret, f"idle-{index}", {space: READ} if space else {})
    return orjson.dumps({"type": "hello", "token": token}).decode()


async def hold(url: str, count: int, space: str | None, first_host: int,
               first_index: int = 0, spaces: int = 1) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counts = [0, 0]
    receivers: list[Receiver] = []
    secret = os.environ.get(TOKEN_SECRET) or None

    def greeting(i: int) -> bytes:
        own = space_of(space, spaces, first_index + i) if space else None
        subscribe = client_frame(TEXT, orjson.dumps({"type": "subscribe", "space": own,
                                                     "cursor": ""})) if own else b""
        return client_frame(TEXT, hello_of(first_index + i, own, secret).encode()) + subscribe

    for start in range(0, count, CONNECT_BURST):
        batch = range(start, min(count, start + CONNECT_BURST))
        receivers += await asyncio.gather(*(
            open_receiver(host, port, f"127.0.0.{first_host + i // PER_SOURCE}", counts)
            for i in batch))
        for i, receiver in enumerate(receivers[start:], start):
            assert receiver.transport is not None
            receiver.transport.write(greeting(i))
        if space:  # subscribed in bursts: the server reads one catch-up page at a time
            await asyncio.gather(*(r.synced for r in receivers[start:]))
    print(f"ready {len(receivers)}", flush=True)
    ready, counts[:] = os.times(), [0, 0]  # from here on: the load
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    done = os.times()
    cpu = done.user + done.system - ready.user - ready.system
    print(orjson.dumps({"live": counts[0], "frames": counts[1],
                        "cpu_s": round(cpu, 3)}).decode(), flush=True)
    for receiver in receivers:
        if receiver.transport is not None:
            receiver.transport.abort()


class ReceiverProcesses:
    """The tool's side: processes of receivers started, then stopped with their counts."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, url: str, shares: list[int], space: str | None,
                    timeout: float = 600, spaces: int = 1,
                    token_secret: str | None = None) -> int:
        """One process per share (its socket count); their sockets once all are ready.
        With `token_secret` each socket authenticates with a token of its own user."""
        first, index = 2, 0
        env = {**os.environ, TOKEN_SECRET: token_secret} if token_secret else None
        for share in shares:
            args = [url, str(share), "--first-host", str(first), "--first-index", str(index),
                    "--spaces", str(spaces)]
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "load.receivers", *args, *(
                    ["--space", space] if space else []),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env))
            first += -(-share // PER_SOURCE)
            index += share
        ready = 0
        for proc in self.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            if not line.startswith(b"ready "):
                raise ConnectionError(f"a receiver process failed to connect: {line!r}")
            ready += int(line.split()[1])
        return ready

    async def stop(self) -> dict[str, float]:
        """Their counts and CPU seconds, summed; the processes end."""
        total = {"live": 0.0, "frames": 0.0, "cpu_s": 0.0}
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            for key, value in orjson.loads(line).items():
                total[key] += value
            await proc.wait()
        self.procs = []
        return total

    def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()


def raise_fd_limit() -> None:
    """As many sockets as the hard limit allows (a process may raise its soft limit)."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m load.receivers", description=__doc__)
    p.add_argument("url")
    p.add_argument("count", type=int)
    p.add_argument("--space", help="subscribe each socket to it from the empty cursor")
    p.add_argument("--first-host", type=int, default=2, help="first source 127.0.0.H")
    p.add_argument("--first-index", type=int, default=0,
                   help="the number of this process's first socket among all (its user)")
    p.add_argument("--spaces", type=int, default=1,
                   help="spread the sockets over this many spaces named after --space")
    args = p.parse_args(argv)
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(hold(args.url, args.count, args.space, args.first_host, args.first_index,
                     args.spaces))


if __name__ == "__main__":
    main()
