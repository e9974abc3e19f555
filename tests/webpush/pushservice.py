"""A local push service (RFC 8030) on 127.0.0.1 for the Web Push tests, and browser-like
devices subscribed to it.

Each device has its own endpoint (`/push/<name>`) and, like a browser, its own P-256 key
pair and 16-byte auth secret (RFC 8291). For every push the service checks the VAPID
authorization (RFC 8292: an ES256 JWT signed by the key in `k`, `aud` the endpoint's
origin, `exp` in the future and within 24 hours, `sub` present) and decrypts the
aes128gcm body with the device's private key; it records what it received and answers
what the test asked for (201 by default; 410, 404, 429 with Retry-After, ...).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from load.pushservice import b64url, vapid_problem


@dataclass
class Received:
    at: float  # time.monotonic()
    headers: dict[str, str]
    payload: dict[str, Any] | None  # decrypted JSON (None: could not be)
    vapid_key: str  # the `k` of the authorization: the server's public key
    claims: dict[str, Any]
    problem: str | None  # what was wrong with the push (None: a valid push)
    answered: int


@dataclass
class Device:
    name: str
    service: PushService
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    received: list[Received] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)

    @property
    def endpoint(self) -> str:
        return f"{self.service.url}/push/{self.name}"

    def subscription(self) -> dict[str, Any]:
        """As PushSubscription.toJSON() gives it."""
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def answer(self, status: int, **headers: str) -> None:
        """The next push is answered so (then 201 again)."""
        self.answers.append((status, headers))

    @property
    def payloads(self) -> list[dict[str, Any] | None]:
        return [r.payload for r in self.received]

    def delivered(self) -> list[Received]:
        """The pushes answered 201."""
        return [r for r in self.received if r.answered == 201]


class PushService:
    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                service._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def device(self, name: str) -> Device:
        device = self.devices[name] = Device(name, self)
        return device

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        name = request.path.removeprefix("/push/")
        body = request.rfile.read(int(request.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in request.headers.items()}
        device = self.devices.get(name)
        if device is None:
            request.send_response(404)
            request.end_headers()
            return
        problem, claims, key = vapid_problem(headers.get("authorization", ""), self.url)
        payload = None
        if headers.get("content-encoding") != "aes128gcm":
            problem = problem or f"content-encoding {headers.get('content-encoding')!r}"
        else:
            try:
                payload = orjson.loads(http_ece.decrypt(body, private_key=device.key,
                                                        auth_secret=device.auth,
                                                        version="aes128gcm"))
            except Exception as exc:
                problem = problem or f"could not decrypt: {exc!r}"
        with self.lock:
            status, extra = device.answers.popleft() if device.answers else (201, {})
            if problem is not None:
                status, extra = 400, {}
            device.received.append(Received(time.monotonic(), headers, payload, key, claims,
                                            problem, status))
        request.send_response(status)
        for k, v in extra.items():
            request.send_header(k.replace("_", "-"), v)
        request.send_header("content-length", "0")
        request.end_headers()
