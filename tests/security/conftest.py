"""Fixtures of the security tests, over real sockets: for transport, certificates made here
and servers over plain HTTP and HTTPS; for auth, the secured server (auth on, an HS256
secret and a JWKS file of an RSA and an EC key, issuer and audience checked, no leeway so
that expiry tests need not wait for one) and tokens for it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

from . import keys
from .certs import Certificates, make_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_env(certs: Certificates) -> dict[str, str]:
    return {"SYNCSERVER_SSL_CERTFILE": str(certs.cert),
            "SYNCSERVER_SSL_KEYFILE": str(certs.key)}


@pytest.fixture(scope="module")
def tls_server(certs: Certificates, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("tls") / "sync.db", demo=True,
                           env=tls_env(certs), tls=certs.client_context()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("plain") / "sync.db", demo=True).start()
    yield server
    server.stop()


@pytest.fixture
def space() -> str:
    return "sp-" + uuid.uuid4().hex[:12]


@dataclass
class Secured:
    server: ServerProcess
    rsa: Any
    ec: Any

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured")
    rsa, ec = keys.rsa_key(), keys.ec_key()
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [keys.public_jwk(rsa, "rsa-1"),
                                         keys.public_jwk(ec, "ec-1")]}))
    server = ServerProcess(folder / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
        "SYNCSERVER_JWKS": str(jwks), "SYNCSERVER_JWT_ISSUER": keys.ISSUER,
        "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE, "SYNCSERVER_JWT_LEEWAY": "0",
        "SYNCSERVER_MAX_WAIT": "2", "SYNCSERVER_POLICIES": "notes=manual"}).start()
    yield Secured(server, rsa, ec)
    server.stop()


@pytest.fixture
def user() -> str:
    return "u" + uuid.uuid4().hex[:10]


Token = Callable[..., str]


@pytest.fixture
def token() -> Token:
    """token(sub, {space: right}, ttl=600, **claims) -> an HS256 token of the secured
    server."""
    def make(sub: str, spaces: dict[str, str] | None = None, ttl: float = 600,
             **extra: Any) -> str:
        return keys.hs(keys.claims(sub, spaces, ttl, **extra))
    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(secured: Secured, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=secured.url, timeout=30,
                        headers=bearer(token) if token else None)
