"""Fixtures of the transport tests: certificates made here, real servers over real
sockets (plain HTTP, and HTTPS with those certificates)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.server import ServerProcess

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
