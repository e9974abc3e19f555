"""One client, many spaces, in Chromium against a real server with `--auth jwt`: two users,
a shared space and a private one each, followed as their tokens grant (`spaces: 'token'`,
app in spaces_app/). Each page holds ONE WebSocket for all its spaces; offline edits across
spaces go out in one push, by the service worker with the page closed; a token re-issued
without a space drops that space from the device (IndexedDB inspected) in every tab and
turns its queued writes into dead letters; re-issued with it, the space comes back."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.demo_app import SYNC_TAG, poll, server_todos
from tests.browser.proxy import FlakyProxy
from tests.server import ServerProcess

APP_DIR = Path(__file__).resolve().parent / "spaces_app"
SECRET = "browser-spaces-test-secret-of-32-chars-or-more"

# What the user's database holds of one space, read from IndexedDB by the page itself.
STORED = """async ({dbName, space}) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open(dbName);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const all = (store) => new Promise((resolve, reject) => {
    const request = db.transaction([store]).objectStore(store).getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const stored = {
    records: (await all('records')).filter((r) => r.space === space).map((r) => r.id).sort(),
    cursors: (await all('cursors')).filter((c) => c.space === space).length,
    outbox: (await all('outbox')).filter((e) => e.space === space).map((e) => e.id),
    dead: (await all('dead_letters')).filter((d) => d.mutation.space === space)
      .map((d) => [d.mutation.id, d.code]),
    conflicts: (await all('conflicts')).filter((c) => c.mutation.space === space).length,
  };
  db.close();
  return stored;
}"""


def token(sub: str, spaces: dict[str, str]) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "exp": now + 600, "iat": now, "spaces": spaces}, SECRET,
                      algorithm="HS256")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server per test: its WebSocket gauge counts this test's pages only."""
    server = ServerProcess(tmp_path / "sync.db", env={
        "SYNCSERVER_STATIC": str(APP_DIR), "SYNCSERVER_AUTH": "jwt",
        "SYNCSERVER_JWT_SECRET": SECRET}).start()
    yield server
    server.stop()


def metric(base_url: str, pattern: str) -> float:
    """One value of the server's /metrics (0 when the series does not exist yet)."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    found = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def pushes(base_url: str) -> int:
    series = r'syncserver_request_seconds_count\{method="POST",route="/v1/push"\}'
    return int(metric(base_url, series))


def sockets_on_server(base_url: str) -> int:
    return int(metric(base_url, "syncserver_ws_connections"))


@dataclass
class Tab:
    """A tab of the app, signed in: its page and the errors it threw."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def put(self, space: str, title: str) -> None:
        self.page.evaluate("([s, t]) => window.app.put(s, t, {title: t})", [space, title])

    def titles(self, space: str) -> list[str]:
        return self.page.evaluate("s => window.app.titles(s)", space)

    def events(self, kind: str) -> list[Any]:
        return self.page.evaluate("k => JSON.parse(JSON.stringify(window.app.events[k]))", kind)

    def value(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def stored(self, user: str, space: str) -> dict[str, Any]:
        return self.page.evaluate(STORED, {"dbName": f"syncserver~{user}", "space": space})


def sign_in(context: BrowserContext, base_url: str, user: str, jwt_token: str) -> Tab:
    """A tab of the app, signed in as `user`, live, its worker in control."""
    tab = Tab(context.new_page())
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.goto(base_url + "/")
    tab.page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=10_000)
    tab.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10_000)
    db_name = tab.page.evaluate("s => window.app.signIn(s)", {"user": user, "token": jwt_token})
    assert db_name == f"syncserver~{user}"
    poll(tab.page, lambda: tab.value("window.app.sync.feedState") == "live", what=f"{user} live")
    return tab


def server_titles(base_url: str, space: str) -> list[str]:
    records = server_todos(base_url, space, token("reader", {space: "r"})).values()
    return sorted(r["data"]["title"] for r in records)


def test_two_users_share_a_space_on_one_socket_each_and_offline_edits_go_out_in_one_batch(
        browser: Browser, server: ServerProcess) -> None:
    uid = uuid.uuid4().hex[:8]
    shared, alice_own, bob_own = f"shared-{uid}", f"alice-{uid}", f"bob-{uid}"
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        alice_token = token("alice", {shared: "rw", alice_own: "rw"})
        alice = sign_in(alice_ctx, server.url, "alice", alice_token)
        bob = sign_in(bob_ctx, server.url, "bob", token("bob", {shared: "rw", bob_own: "rw"}))
        assert alice.value("window.app.sync.spaces") == sorted([shared, alice_own])
        assert bob.value("window.app.sync.spaces") == sorted([shared, bob_own])
        # One socket per page for its two spaces, and the server counts two in all.
        assert alice.value("window.app.sockets()") == 1
        assert bob.value("window.app.sockets()") == 1
        assert sockets_on_server(server.url) == 2

        # Live over that socket: Alice's write in the shared list reaches Bob, his own list
        # stays his.
        alice.put(shared, "milk")
        poll(bob.page, lambda: bob.titles(shared) == ["milk"], timeout=5, what="milk at Bob's")
        bob.put(bob_own, "plan")
        poll(bob.page, lambda: server_titles(server.url, bob_own) == ["plan"], what="Bob's write")
        follows = alice.page.evaluate("""s => {
            try { window.app.sync.space(s); return 'followed'; } catch (e) { return e.code; } }""",
            bob_own)
        assert follows == "not_followed"
        assert bob.value("window.app.sockets()") == 1

        # Offline edits in both of Alice's spaces: queued in one outbox.
        before = pushes(server.url)
        alice_ctx.set_offline(True)
        alice.put(shared, "eggs")
        alice.put(alice_own, "diary")
        poll(alice.page, lambda: alice.value("window.app.sync.pending") == 2, what="two queued")
        tags = alice.page.evaluate(
            "async () => (await navigator.serviceWorker.ready).sync.getTags()")
        assert f"{SYNC_TAG}:syncserver~alice" in tags, tags
        assert alice.errors == []
        # The page goes away; the worker delivers both once the network is back.
        alice.page.close()
        alice_ctx.set_offline(False)
        poll(bob.page, lambda: server_titles(server.url, alice_own) == ["diary"], timeout=30,
             what="the worker to deliver with the page closed")
        assert server_titles(server.url, shared) == ["eggs", "milk"]
        assert pushes(server.url) - before == 1, "one push for both spaces"
        poll(bob.page, lambda: bob.titles(shared) == ["eggs", "milk"], timeout=5, what="eggs")
        assert bob.value("window.app.sockets()") == 1
        assert bob.errors == []
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_a_revoked_space_leaves_the_device_in_every_tab_and_a_grant_brings_it_back(
        browser: Browser, server: ServerProcess) -> None:
    uid = uuid.uuid4().hex[:8]
    shared, bob_own = f"shared-{uid}", f"bob-{uid}"
    # Bob's pushes never get through (503 at a proxy in front of the real server), so his
    # write to the shared list is still queued when the space is taken from him.
    proxy = FlakyProxy(server.url, fail_pushes=1_000_000).start()
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        alice = sign_in(alice_ctx, server.url, "alice", token("alice", {shared: "rw"}))
        alice.put(shared, "milk")
        poll(alice.page, lambda: server_titles(server.url, shared) == ["milk"], what="milk")

        bob_token = token("bob", {shared: "rw", bob_own: "rw"})
        tab1 = sign_in(bob_ctx, proxy.url, "bob", bob_token)
        tab2 = sign_in(bob_ctx, proxy.url, "bob", bob_token)
        poll(tab1.page, lambda: tab1.titles(shared) == ["milk"], what="the shared list at Bob's")
        tab1.put(shared, "mine")
        poll(tab1.page, lambda: proxy.stats()["refused"] >= 1, what="Bob's push refused")
        held = tab1.stored("bob", shared)
        assert (held["records"], held["outbox"]) == (["milk", "mine"], ["mine"]), held
        assert held["cursors"] >= 1, held

        # The app re-issues Bob's token without the shared space; the client takes it.
        tab1.page.evaluate("t => window.app.refresh(t)", token("bob", {bob_own: "rw"}))
        for tab in (tab1, tab2):
            poll(tab.page, lambda tab=tab: [e["space"] for e in tab.events("space-revoked")]
                 == [shared], what="space-revoked in every tab")
        revoked = tab2.events("space-revoked")[0]
        assert (revoked["code"], revoked["dropped"], revoked["deadLetters"]) == (
            "forbidden", 2, 1), revoked
        assert tab1.stored("bob", shared) == {"records": [], "cursors": 0, "outbox": [],
                                              "dead": [["mine", "forbidden"]], "conflicts": 0}
        for tab in (tab1, tab2):
            assert tab.value("window.app.sync.spaces") == [bob_own]
        dead = tab1.page.evaluate("async () => (await window.app.sync.deadLetters())"
                                  "  .map(d => [d.mutation.space, d.code])")
        assert dead == [[shared, "forbidden"]]
        refused = tab1.page.evaluate("""async (s) => {
            try { await window.app.put(s, 'again', {title: 'again'}); return 'queued'; }
            catch (e) { return e.code; } }""", shared)
        assert refused == "not_followed"

        # Alice goes on; nothing of it reaches Bob's device now.
        alice.put(shared, "eggs")
        poll(alice.page, lambda: server_titles(server.url, shared) == ["eggs", "milk"], what="eggs")
        tab1.page.wait_for_timeout(300)
        assert tab1.stored("bob", shared)["records"] == []

        # Granted again: subscribed on the same socket, and synced.
        tab1.page.evaluate("t => window.app.refresh(t)", bob_token)
        poll(tab1.page, lambda: shared in [e["space"] for e in tab1.events("space-added")],
             what="space-added")
        poll(tab1.page, lambda: tab1.titles(shared) == ["eggs", "milk"], what="the list back")
        assert tab1.stored("bob", shared)["cursors"] >= 1
        assert tab1.value("window.app.sockets()") == 1, "one socket throughout"
        assert tab1.errors == [] and tab2.errors == []
    finally:
        alice_ctx.close()
        bob_ctx.close()
        proxy.stop()
