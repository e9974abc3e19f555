"""The demo's two users in Chromium, on a `syncserver serve --dev` server (the README's quick
start): alice and bob each have a private list and share one; an edit in the shared list
reaches the other live; the dev panel's "revoke bob's access" makes the shared list vanish
from bob's open page and from his IndexedDB, and "grant" brings it back with its records,
through the real mechanism (the dev server leaves the space out of bob's next token, bob's
page takes one, the client drops the space: space-revoked, and adds it: space-added)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.helpers import pull_all
from tests.server import ServerProcess

SHARED = "demo"  # the quick start's own shared list


@pytest.fixture(scope="module")
def dev_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("sharing") / "syncserver.db", demo=True,
                           args=["--dev"]).start()
    yield server
    server.stop()


def titles(app: DemoPage, list_id: str) -> list[str]:
    return sorted(app.page.eval_on_selector_all(f"#{list_id} li .title",
                                                "els => els.map(e => e.value)"))


def add(app: DemoPage, form: str, field: str, title: str) -> None:
    app.page.fill(f"#{field}", title)
    app.page.click(f"#{form} button[type=submit]")


def shared_shown(app: DemoPage) -> bool:
    return app.page.is_visible("#shared-body") and not app.page.is_visible("#shared-gone")


def server_titles(server: ServerProcess, sub: str, space: str) -> list[str]:
    token = httpx.post(f"{server.url}/v1/dev/token", json={"sub": sub, "spaces": [SHARED]},
                       timeout=10).json()["token"]
    with httpx.Client(base_url=server.url, timeout=10,
                      headers={"authorization": f"Bearer {token}"}) as client:
        state, _ = pull_all(client, space=space)
    return sorted(rec["data"]["title"] for rec in state.values() if not rec["deleted"])


def test_two_users_share_a_list_and_revoking_bob_takes_it_off_his_device_live(
        browser: Browser, dev_demo: ServerProcess, artifacts: Path) -> None:
    one, two = browser.new_context(), browser.new_context()
    try:
        alice = DemoPage.open(one, dev_demo.url, "", user="alice")
        bob = DemoPage.open(two, dev_demo.url, "", user="bob")
        for app, own in ((alice, "user-alice"), (bob, "user-bob")):
            poll(app.page, lambda app=app: app.status() == "up-to-date",
                 what=f"{app.user}'s spaces to be live")
            assert app.page.evaluate("window.app.sync.spaces") == sorted([own, SHARED])
            assert app.db_name() == f"syncserver~{app.user}"
            assert app.page.inner_text("#own-space") == own and shared_shown(app)
            assert app.page.get_attribute("#users a[aria-current=page]", "href") \
                == f"?user={app.user}"
            # the dev panel: one row per user, both with access
            poll(app.page, lambda app=app: app.page.eval_on_selector_all(
                "#access li", "els => els.map(e => [e.dataset.user, e.dataset.access])")
                == [["alice", "granted"], ["bob", "granted"]], what="the dev panel")

        # Private lists stay private; the shared list reaches the other user live.
        add(alice, "new-mine", "mine-title", "alice's secret")
        add(bob, "new-mine", "mine-title", "bob's secret")
        add(alice, "new-todo", "title", "buy milk")
        add(alice, "new-note", "note-title", "door code 1234")
        poll(bob.page, lambda: titles(bob, "todos") == ["buy milk"],
             what="alice's shared todo on bob's page")
        poll(bob.page, lambda: titles(bob, "notes") == ["door code 1234"],
             what="alice's shared note on bob's page")
        add(bob, "new-todo", "title", "buy bread")
        poll(alice.page, lambda: titles(alice, "todos") == ["buy bread", "buy milk"],
             what="bob's shared todo on alice's page")
        assert any(c["origin"] == "remote" for c in bob.events("changes"))
        for app in (alice, bob):
            app.wait_synced()
        assert titles(alice, "mine") == ["alice's secret"]
        assert titles(bob, "mine") == ["bob's secret"]
        assert server_titles(dev_demo, "bob", "user-bob") == ["bob's secret"]
        alice.page.screenshot(path=str(artifacts / "demo-sharing-alice.png"), full_page=True)
        shared_ids = bob.stored(SHARED)["records"]
        assert len(shared_ids) == 3 and bob.stored(SHARED)["cursors"] >= 1

        # Alice's page revokes bob: the shared list leaves bob's page and his database.
        alice.page.click("#access li[data-user=bob] button")
        poll(bob.page, lambda: not shared_shown(bob), what="the shared list to vanish from bob")
        gone = bob.page.inner_text("#shared-gone")
        assert "revoked" in gone and "3 records were removed" in gone, gone
        assert bob.page.eval_on_selector_all("#todos li, #notes li", "els => els.length") == 0
        assert bob.stored(SHARED) == {"records": [], "cursors": 0, "outbox": 0}
        assert bob.page.evaluate("window.app.sync.spaces") == ["user-bob"]
        bob.page.screenshot(path=str(artifacts / "demo-sharing-bob-revoked.png"), full_page=True)
        revoked = bob.events("revoked")
        assert [(e["space"], e["code"], e["dropped"]) for e in revoked] == \
            [(SHARED, "forbidden", 3)], revoked
        # bob keeps his own list; alice keeps everything, and the panel says who lost what
        assert titles(bob, "mine") == ["bob's secret"] and bob.stored("user-bob")["records"]
        assert shared_shown(alice) and titles(alice, "todos") == ["buy bread", "buy milk"]
        assert alice.events("revoked") == []
        for app in (alice, bob):
            poll(app.page, lambda app=app: app.page.get_attribute(
                "#access li[data-user=bob]", "data-access") == "revoked",
                what=f"{app.user}'s dev panel to show bob revoked")
        # Meanwhile the shared list goes on without him.
        add(alice, "new-todo", "title", "while bob was out")
        alice.wait_synced()
        assert bob.stored(SHARED)["records"] == []

        # Granted back, from bob's own page: the list returns with all its records.
        bob.page.click("#access li[data-user=bob] button")
        poll(bob.page, lambda: shared_shown(bob), what="the shared list to come back to bob")
        poll(bob.page, lambda: titles(bob, "todos") ==
             ["buy bread", "buy milk", "while bob was out"], what="the shared records")
        poll(bob.page, lambda: titles(bob, "notes") == ["door code 1234"], what="the note")
        assert len(bob.stored(SHARED)["records"]) == 4
        assert [e["space"] for e in bob.events("added")] == [SHARED]
        assert sorted(bob.page.evaluate("window.app.sync.spaces")) == sorted(["user-bob", SHARED])
        # ...and it is live again on the same page.
        poll(bob.page, lambda: bob.status() == "up-to-date", what="bob live again")
        add(alice, "new-todo", "title", "welcome back")
        poll(bob.page, lambda: "welcome back" in titles(bob, "todos"),
             what="a live edit after the grant")
        add(bob, "new-todo", "title", "thanks")
        poll(alice.page, lambda: "thanks" in titles(alice, "todos"), what="bob's write again")

        assert alice.events("rejected") == [] and bob.events("rejected") == []
        assert alice.errors == [] and bob.errors == []
    finally:
        one.close()
        two.close()
