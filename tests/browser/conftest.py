"""Browser tests: Debian's chromium driven by Playwright against a real server process
serving the demo PWA. How the browser is launched, and why with those flags, is in
demo_app.py; docs/client.md lists what each browser test covers."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.browser.demo_app import ARGS, CHROMIUM
from tests.server import ServerProcess

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in this
# thread while it lives, and later modules (WebSocket tests) call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does it)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the module; every test works in its own space."""
    server = ServerProcess(tmp_path_factory.mktemp("browser") / "sync.db", demo=True).start()
    yield server
    server.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
