"""App shell caching: versioned cache names, old versions removed on activate."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.server import REPO, ServerProcess

# The demo's shell version as its worker configuration declares it (bumped with the shell).
SHELL_VERSION = re.search(r"version: '([^']+)'",
                          (REPO / "client_sw" / "demo" / "sw-config.js").read_text())
assert SHELL_VERSION, "client_sw/demo/sw-config.js declares no shell version"
PRECACHE = f"syncserver-shell-precache-{SHELL_VERSION[1]}"


def test_activate_deletes_old_shell_caches_and_keeps_the_apps_own(
    browser: Browser, demo: ServerProcess
) -> None:
    context = browser.new_context()
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        keys = app.page.evaluate("caches.keys()")
        assert PRECACHE in keys
        precached = app.page.evaluate(
            "async (name) => (await (await caches.open(name)).keys())"
            "  .map(r => new URL(r.url).pathname)",
            PRECACHE,
        )
        assert {"/", "/index.html", "/offline.html", "/sync/index.js"} <= set(precached)

        # Leftovers of an older shell version, and a cache the shell does not own.
        app.page.evaluate("""async () => {
            await caches.open('syncserver-shell-precache-demo-v0');
            await caches.open('syncserver-shell-runtime-demo-v0');
            await caches.open('my-app-images');
        }""")
        # A new worker version installs and activates (here: the module build of the same
        # worker, registered for the same scope).
        app.page.evaluate("""() => new Promise((resolve, reject) => {
            navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
            navigator.serviceWorker.register('/sw-esm.js', { type: 'module' }).catch(reject);
            setTimeout(() => reject(new Error('the new worker never took control')), 15000);
        })""")
        poll(
            app.page,
            lambda: "syncserver-shell-precache-demo-v0" not in app.page.evaluate("caches.keys()"),
            what="the old precache to be deleted",
        )
        keys = app.page.evaluate("caches.keys()")
        assert "syncserver-shell-runtime-demo-v0" not in keys
        assert "my-app-images" in keys and PRECACHE in keys
        assert app.page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith(
            "/sw-esm.js"
        )
    finally:
        context.close()
