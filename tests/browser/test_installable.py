"""The demo is an installable PWA, and screenshots of it are kept as test artifacts."""

from __future__ import annotations

import json
import struct
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Playwright

from tests.browser.demo_app import ARGS, CHROMIUM, DemoPage, poll
from tests.server import ServerProcess


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chromium_reports_no_installability_errors(
    playwright: Playwright, demo: ServerProcess, tmp_path: Path
) -> None:
    # A persistent profile: Chromium never offers to install from an incognito-like context.
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, headless=True, args=ARGS
    )
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        cdp = context.new_cdp_session(app.page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert manifest["url"] == f"{demo.url}/manifest.webmanifest"
        parsed = json.loads(manifest["data"])
        assert parsed["name"] and parsed["short_name"]
        assert parsed["start_url"] == "/" and parsed["scope"] == "/"
        assert parsed["display"] == "standalone" and parsed["theme_color"]
        sizes = {icon["sizes"] for icon in parsed["icons"]}
        assert {"192x192", "512x512"} <= sizes

        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors

        for icon in parsed["icons"]:
            data = httpx.get(demo.url + icon["src"], timeout=5).content
            expected = tuple(int(n) for n in icon["sizes"].split("x"))
            assert png_size(data) == expected, icon
    finally:
        context.close()


def test_screenshots_online_offline_and_after_sync(
    browser: Browser, demo: ServerProcess, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 480, "height": 640})
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        app.add("plan the trip")
        app.add("book the train")
        app.wait_synced()
        poll(app.page, lambda: app.status() == "up-to-date", what="up to date")
        shots = {
            "demo-online.png": None,
            "demo-offline-pending.png": None,
            "demo-after-sync.png": None,
        }
        app.page.screenshot(path=artifacts / "demo-online.png", full_page=True)

        context.set_offline(True)
        app.add("pack the bags")
        app.page.click("#todos li .done >> nth=0")
        poll(app.page, lambda: app.pending() == 2 and app.status() == "offline", what="two pending")
        assert app.page.inner_text("#pending") == "2 waiting"
        app.page.screenshot(path=artifacts / "demo-offline-pending.png", full_page=True)

        context.set_offline(False)
        app.wait_synced()
        poll(app.page, lambda: app.status() == "up-to-date", what="up to date again")
        app.page.screenshot(path=artifacts / "demo-after-sync.png", full_page=True)

        for name in shots:
            width, height = png_size((artifacts / name).read_bytes())
            assert width >= 480 and height >= 200, name
    finally:
        context.close()
