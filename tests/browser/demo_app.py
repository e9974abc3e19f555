"""Driving the demo PWA: a small page object plus polling helpers.

Waits poll with page.wait_for_timeout (never time.sleep): Playwright's sync API only
delivers events (CDP, console) while it is busy. Predicates of wait_for_function are
functions (`() => ...`): an expression would be run with the page's eval, which the
server's Content Security Policy forbids."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page

from tests.helpers import pull_all

T = TypeVar("T")
# Debian's chromium (`playwright install` cannot download browsers on our machines). Headless,
# as root (--no-sandbox), with no background networking: on a closed network Chromium's
# own connections to Google's hosts fail many at a time and at every start.
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SYNC_TAG = "syncserver-outbox"


def poll(
    page: Page, check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Call `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        page.wait_for_timeout(50)


def server_todos(base_url: str, space: str, token: str = "") -> dict[str, dict]:
    """The server's live records of the space, by id, read over HTTP (with this bearer
    token, when the server has auth on)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
        state, _ = pull_all(client, space=space)
    return {
        rid: rec for (coll, rid), rec in state.items() if coll == "todos" and not rec["deleted"]
    }


class DemoPage:
    def __init__(self, page: Page, base_url: str, space: str, user: str = "") -> None:
        self.page = page
        self.base_url = base_url
        self.space = space
        self.user = user
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    def open(
        cls, context: BrowserContext, base_url: str, space: str, worker: str = "classic",
        user: str = "",
    ) -> "DemoPage":
        page = context.new_page()
        demo = cls(page, base_url, space, user)
        demo.goto(worker)
        return demo

    def goto(self, worker: str = "classic") -> None:
        """Open the demo in `space` (its shared list; none: the page's own, e.g. before
        signing in) as `user` (none: the page's default)."""
        query = "&".join(([f"space={self.space}"] if self.space else [])
                         + ([f"user={self.user}"] if self.user else [])
                         + (["sw=module"] if worker == "module" else []))
        query = f"?{query}" if query else ""
        self.page.goto(f"{self.base_url}/{query}")
        self.wait_ready()
        # Background Sync and offline reloads need the worker in control of the page.
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                                    timeout=10_000)

    def wait_ready(self) -> None:
        self.page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=10_000)

    def add(self, title: str) -> None:
        """Add a todo through the form, as a user would."""
        before = len(self.titles())
        self.page.fill("#title", title)
        self.page.click("#new-todo button[type=submit]")
        self.page.wait_for_function(
            "n => document.querySelectorAll('#todos li').length > n", arg=before, timeout=5000
        )

    def rename(self, title_now: str, new_title: str) -> None:
        """Edit a todo's title in place (the change event patches the record)."""
        field = self.page.locator(f"#todos li .title >> nth={self.titles().index(title_now)}")
        field.fill(new_title)
        field.press("Enter")
        field.blur()

    def titles(self) -> list[str]:
        return self.page.eval_on_selector_all("#todos li .title", "els => els.map(e => e.value)")

    def pending(self) -> int:
        """The pending-write count the app shows."""
        return int(self.page.get_attribute("#pending", "data-count") or "-1")

    def db_name(self) -> str:
        """The page's IndexedDB database (the demo's: one per user, `syncserver~alice`)."""
        return str(self.page.evaluate("window.app.sync.db.name"))

    def sync_tag(self) -> str:
        """The Background Sync tag of the page's database."""
        name = self.db_name()
        return SYNC_TAG if name == "syncserver" else f"{SYNC_TAG}:{name}"

    def outbox(self) -> int:
        """Entries in the IndexedDB outbox, read from the page's database itself."""
        return self.page.evaluate("""async (name) => {
            const m = await import('/sync/index.js');
            const db = await m.openDatabase({ name });
            try { return await m.countOutbox(db); } finally { db.close(); }
        }""", self.db_name())

    def stored(self, space: str) -> dict[str, Any]:
        """What the page's database holds of `space`: record ids, cursors, queued writes."""
        return self.page.evaluate("""async ({name, space}) => {
            const m = await import('/sync/index.js');
            const db = await m.openDatabase({ name });
            const all = (store) => new Promise((resolve, reject) => {
              const request = db.transaction([store]).objectStore(store).getAll();
              request.onsuccess = () => resolve(request.result);
              request.onerror = () => reject(request.error);
            });
            try {
              return {
                records: (await all('records')).filter((r) => r.space === space)
                  .map((r) => r.id).sort(),
                cursors: (await all('cursors')).filter((c) => c.space === space).length,
                outbox: (await all('outbox')).filter((e) => e.space === space).length,
              };
            } finally { db.close(); }
        }""", {"name": self.db_name(), "space": space})

    def status(self) -> str:
        return self.page.get_attribute("#status", "data-status") or ""

    def events(self, kind: str) -> list[Any]:
        return self.page.evaluate(f"JSON.parse(JSON.stringify(window.app.events.{kind}))")

    def sync_tags(self) -> list[str]:
        return self.page.evaluate(
            "async () => (await navigator.serviceWorker.ready).sync.getTags()"
        )

    def wait_synced(self, timeout: float = 20.0) -> None:
        poll(
            self.page,
            lambda: self.outbox() == 0 and self.pending() == 0,
            timeout,
            "the outbox to drain",
        )
