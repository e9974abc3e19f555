from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webpush.pushservice import PushService


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service
