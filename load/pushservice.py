"""A local push service (RFC 8030) on 127.0.0.1 for `python -m load webpush`, in a process
of its own, and the browser-like devices subscribed to it.

Each device has its own endpoint (`/push/<n>`) and, like a browser, its own P-256 key pair
and 16-byte auth secret (RFC 8291): 10,000 key pairs take about 0.3 s here, so none is
shared. For every push the service checks the VAPID authorization (RFC 8292: an ES256 JWT
signed by the key in `k`, `aud` this origin, `exp` in the future and within 24 hours;
checked once per distinct header: the server signs once per origin) and decrypts the
aes128gcm body with the device's private key, then answers 201 after `latency` seconds (a
real push service is a network round trip away: the wait is what lets the server's
concurrency show as requests in flight here).

`GET /subscriptions`: every device's PushSubscription (as `toJSON()` gives it);
`GET /received?since=N`: the pushes received from the N-th on, `[device, space, head,
at, problem]` (`at`: CLOCK_MONOTONIC, comparable with the tool's), the most requests seen in
flight at once and the connections they came on.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class Vapid(NamedTuple):
    problem: str | None  # what is wrong with the authorization (None: a valid one)
    claims: dict[str, Any]  # the JWT's claims, once its signature checked
    key: str  # the `k`: the application server's public key, base64url


def vapid_problem(authorization: str, audience: str) -> Vapid:
    """A push's `Authorization: vapid t=<jwt>, k=<key>` checked as a push service does
    (RFC 8292): an ES256 JWT signed by the key in `k`, `aud` the endpoint's origin, `exp`
    in the future and within 24 hours, `sub` present. The tests' push service uses it too."""
    scheme, _, rest = authorization.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
    if scheme != "vapid" or "t" not in parts or "k" not in parts:
        return Vapid(f"not a vapid authorization: {authorization[:60]!r}", {}, "")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                              unb64url(parts["k"]))
        claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=audience,
                            options={"require": ["exp", "aud", "sub"]})
    except Exception as exc:
        return Vapid(f"bad VAPID token: {exc!r}", {}, parts["k"])
    if claims["exp"] > time.time() + 24 * 3600:
        return Vapid("exp more than 24 hours ahead", claims, parts["k"])
    return Vapid(None, claims, parts["k"])


@dataclass
class Device:
    key: ec.EllipticCurvePrivateKey
    public: bytes  # uncompressed point, 65 bytes
    auth: bytes

    @classmethod
    def new(cls) -> Device:
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        return cls(key, public, os.urandom(16))

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 / RFC 8188 aes128gcm, one record (a push is at most 4 KB)."""
        salt, keyid_len = body[:16], body[20]
        sender = body[21:21 + keyid_len]
        ciphertext = body[21 + keyid_len:]
        secret = self.key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), sender))
        ikm = _hkdf(self.auth, secret, b"WebPush: info\0" + self.public + sender, 32)
        cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\0", 16)
        nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\0", 12)
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\0")
        if not padded.endswith(b"\x02"):  # the last record's delimiter
            raise ValueError("no last-record delimiter")
        return padded[:-1]


class Service:
    def __init__(self, devices: int, latency: float) -> None:
        self.devices = [Device.new() for _ in range(devices)]
        self.latency = latency
        self.url = ""
        self.received: list[list[Any]] = []  # [device, space, head, at, problem]
        self.in_flight = self.max_in_flight = 0
        self.peers: set[object] = set()  # the connections pushes came on
        self._vapid_ok: dict[str, str | None] = {}  # authorization -> problem

    def subscription(self, n: int) -> dict[str, Any]:
        device = self.devices[n]
        return {"endpoint": f"{self.url}/push/{n}", "expirationTime": None,
                "keys": {"p256dh": b64url(device.public), "auth": b64url(device.auth)}}

    def check_vapid(self, authorization: str) -> str | None:
        if authorization in self._vapid_ok:
            return self._vapid_ok[authorization]
        problem = vapid_problem(authorization, self.url).problem
        if len(self._vapid_ok) < 1000:
            self._vapid_ok[authorization] = problem
        return problem

    async def push(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            if request.transport is not None:
                self.peers.add(request.transport.get_extra_info("peername"))
            at = time.monotonic()
            try:
                device = self.devices[int(request.match_info["n"])]
            except (ValueError, IndexError):
                return web.Response(status=404)
            problem = self.check_vapid(request.headers.get("Authorization", ""))
            space, head = None, None
            if request.headers.get("Content-Encoding") != "aes128gcm":
                problem = problem or "not aes128gcm"
            else:
                try:
                    payload = orjson.loads(device.decrypt(body))
                    space, head = payload.get("space"), payload.get("head")
                except Exception as exc:
                    problem = problem or f"could not decrypt: {exc!r}"
            self.received.append([int(request.match_info["n"]), space, head, at, problem])
            if self.latency:
                await asyncio.sleep(self.latency)
            return web.Response(status=400 if problem else 201)
        finally:
            self.in_flight -= 1

    async def subscriptions(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(
            [self.subscription(n) for n in range(len(self.devices))]),
            content_type="application/json")

    async def report(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.Response(body=orjson.dumps({
            "received": self.received[since:], "max_in_flight": self.max_in_flight,
            "connections": len(self.peers)}), content_type="application/json")

async def _serve(devices: int, latency: float, pipe: Connection) -> None:
    service = Service(devices, latency)
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/push/{n}", service.push)
    app.router.add_get("/subscriptions", service.subscriptions)
    app.router.add_get("/received", service.report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    service.url = f"http://127.0.0.1:{port}"
    pipe.send(service.url)
    await asyncio.to_thread(pipe.recv)  # "stop"
    await runner.cleanup()


def _main(devices: int, latency: float, pipe: Connection) -> None:
    asyncio.run(_serve(devices, latency, pipe))


class PushServiceProcess:
    """The push service in a process of its own (its decryption must not stall the tool's
    clients, nor theirs its answers); stopped when the run ends."""

    def __init__(self, devices: int, latency: float) -> None:
        self.pipe, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_main, args=(devices, latency, child), daemon=True)
        self.url = ""

    def __enter__(self) -> PushServiceProcess:
        self.process.start()
        if not self.pipe.poll(120):
            self.__exit__()
            raise RuntimeError("the local push service did not start")
        self.url = self.pipe.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.is_alive():
            self.pipe.send("stop")
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
