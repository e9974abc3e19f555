"""Fixtures of the declared-collections tests: each module declares its `server` (a
server with its collections file, support.declared_fixture); `writer` is a client of it
with a space of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.server import ServerProcess

from .support import Writer


@pytest.fixture
def writer(server: ServerProcess) -> Iterator[Writer]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield Writer(http, "c-" + uuid.uuid4().hex[:10], "s-" + uuid.uuid4().hex[:10])
