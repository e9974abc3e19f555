"""The browser client with auth on (`--auth jwt`): a page of the tests' own (auth_app/)
signs a user in with a token, its offline writes reach the server through the service
worker (which uses the token the page stored in the user's database), and logout wipes
that user's local data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import SYNC_TAG, DemoPage, poll
from tests.helpers import pull_all
from tests.server import ServerProcess

APP_DIR = Path(__file__).resolve().parent / "auth_app"
SECRET = "browser-auth-test-secret-of-32-chars-or-more"


def token(sub: str, spaces: dict[str, str]) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "exp": now + 600, "iat": now, "spaces": spaces}, SECRET,
                      algorithm="HS256")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("auth-app") / "sync.db", env={
        "SYNCSERVER_STATIC": str(APP_DIR), "SYNCSERVER_AUTH": "jwt",
        "SYNCSERVER_JWT_SECRET": SECRET}).start()
    yield server
    server.stop()


def server_notes(base_url: str, space: str) -> list[str]:
    headers = {"authorization": f"Bearer {token('reader', {space: 'r'})}"}
    with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
        state, _ = pull_all(client, space=space)
    return sorted(rec["data"]["text"] for (collection, _), rec in state.items()
                  if collection == "notes" and not rec["deleted"])


def test_signed_in_offline_writes_reach_the_server_through_the_worker_and_logout_wipes(
        browser: Browser, server: ServerProcess) -> None:
    space = f"auth-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        demo = DemoPage.open(context, server.url, space="")  # the space comes with signIn
        page, errors = demo.page, demo.errors
        session = {"space": space, "user": "alice", "token": token("alice", {space: "rw"})}
        db_name = page.evaluate("s => window.app.signIn(s)", session)
        assert db_name == "syncserver~alice"
        # The live feed authenticates with the token in `hello` and goes live.
        poll(page, lambda: page.evaluate("window.app.sync.feedState") == "live",
             what="the live feed with a token")

        context.set_offline(True)
        for text in ("first", "second"):
            page.evaluate("t => window.app.notes.put(crypto.randomUUID(), {text: t})", text)
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 2, what="two pending writes")
        tags = page.evaluate("async () => (await navigator.serviceWorker.ready).sync.getTags()")
        assert f"{SYNC_TAG}:syncserver~alice" in tags, tags
        context.set_offline(False)
        poll(page, lambda: server_notes(server.url, space) == ["first", "second"], timeout=20,
             what="the two notes on the server")
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 0,
             what="the outbox to drain")
        sources = {e["source"] for e in page.evaluate("window.app.events.replay")}
        assert "worker:sync" in sources, sources  # the worker pushed with the stored token
        assert page.evaluate("window.app.events.auth") == []

        page.evaluate("() => window.app.sync.logout()")
        assert page.evaluate("window.app.events.logout") == [{"dbName": "syncserver~alice"}]
        counts = page.evaluate("""() => new Promise((resolve, reject) => {
            const open = indexedDB.open('syncserver~alice');
            open.onerror = () => reject(open.error);
            open.onsuccess = async () => {
              const db = open.result;
              const counts = {};
              for (const name of db.objectStoreNames) {
                counts[name] = await new Promise((done) => {
                  const request = db.transaction([name]).objectStore(name).count();
                  request.onsuccess = () => done(request.result);
                });
              }
              db.close();
              resolve(counts);
            };
        })""")
        assert counts and all(n == 0 for n in counts.values()), counts
        assert server_notes(server.url, space) == ["first", "second"], "logout is local only"
        assert errors == []
    finally:
        context.close()
