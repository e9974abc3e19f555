"""The demo as a person sees it: the sync state in words (offline, synced, changes waiting,
server unreachable), conflicts worded and tied to their item, and "keep mine" / "keep
theirs" on the manual notes list, settled through the conflicts API. Each state is kept
as a screenshot in test-artifacts/."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.browser.proxy import FlakyProxy
from tests.helpers import pull_all
from tests.server import ServerProcess

NOTES = "demo_notes"  # manual on the demo server


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[ServerProcess, FlakyProxy]]:
    """A demo server of the test's own (it is stopped), behind a real reverse proxy."""
    server = ServerProcess(tmp_path / "sync.db", demo=True).start()
    proxy = FlakyProxy(server.url, fail_pushes=0).start()
    try:
        yield server, proxy
    finally:
        proxy.stop()
        server.stop()


def state(app: DemoPage) -> str:
    return app.page.get_attribute("#sync-state", "data-state") or ""


def words(app: DemoPage) -> str:
    return app.page.inner_text("#status") + " | " + app.page.inner_text("#status-detail")


def wait_state(app: DemoPage, expected: str, timeout: float = 15.0) -> str:
    poll(app.page, lambda: state(app) == expected, timeout, f"the demo to show {expected!r}")
    return words(app)


def other_device_edit(base_url: str, space: str, collection: str, record_id: str,
                      title: str, base: int, ms: int) -> None:
    """Another device's edit, pushed over the real protocol."""
    client = f"c-other-{uuid.uuid4().hex[:6]}"
    m = {"mid": 1, "space": space, "collection": collection, "id": record_id, "op": "patch",
         "base_version": base, "hlc": f"{ms:013d}:00000:{client}", "data": {"title": title}}
    answer = httpx.post(base_url + "/v1/push", json={"client_id": client, "mutations": [m],
                                                     "protocol": 2}, timeout=10).json()
    assert answer["results"][0]["status"] == "applied", answer


def server_records(base_url: str, space: str, collection: str) -> dict[str, dict]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        state, _ = pull_all(client, space=space)
    return {rid: rec for (coll, rid), rec in state.items() if coll == collection}


def add_note(app: DemoPage, title: str) -> None:
    before = app.page.locator("#notes > li").count()
    app.page.fill("#note-title", title)
    app.page.click("#new-note button[type=submit]")
    poll(app.page, lambda: app.page.locator("#notes > li").count() > before, what="the note")


def rename_in(app: DemoPage, list_id: str, index: int, title: str) -> None:
    field = app.page.locator(f"#{list_id} > li .title >> nth={index}")
    field.fill(title)
    field.press("Enter")
    field.blur()


def ids_of(app: DemoPage, list_id: str) -> list[str]:
    return app.page.eval_on_selector_all(f"#{list_id} > li", "els => els.map(e => e.dataset.id)")


def test_the_demo_says_offline_synced_waiting_and_server_unreachable(
    browser: Browser, proxied: tuple[ServerProcess, FlakyProxy], artifacts: Path
) -> None:
    server, proxy = proxied
    context = browser.new_context(viewport={"width": 480, "height": 560})
    try:
        app = DemoPage.open(context, proxy.url, f"b-{uuid.uuid4().hex[:10]}")
        app.add("water the plants")
        app.wait_synced()
        assert wait_state(app, "synced") == "Synced | All changes are saved on the server."
        app.page.screenshot(path=artifacts / "demo-state-synced.png")

        context.set_offline(True)
        app.add("call the plumber")
        text = wait_state(app, "offline")
        assert text.startswith("Offline | 1 change is saved on this device"), text
        assert app.page.inner_text("#pending") == "1 waiting"
        app.page.screenshot(path=artifacts / "demo-state-offline.png")

        # Online, the write on its way but not delivered yet (held at the proxy).
        proxy.hold()
        context.set_offline(False)
        text = wait_state(app, "pending")
        assert text.startswith("Syncing 1 change |"), text
        poll(app.page, lambda: proxy.held() >= 1, what="the push to reach the proxy")
        app.page.screenshot(path=artifacts / "demo-state-pending.png")
        proxy.release()
        app.wait_synced()
        wait_state(app, "synced")

        # The server goes away while the browser stays online: not "online", not "synced".
        server.stop()
        app.add("buy stamps")
        text = wait_state(app, "unreachable", timeout=20)
        assert text == ("Server unreachable | You are online, but the sync server does not "
                        "answer. 1 change waits on this device; it is sent as soon as the "
                        "server is back."), text
        assert app.page.evaluate("navigator.onLine") is True
        app.page.screenshot(path=artifacts / "demo-state-unreachable.png")

        # Back: the queued write goes out without the person doing anything.
        server.start()
        poll(app.page, lambda: app.pending() == 0, 40, "the queued write to be delivered")
        wait_state(app, "synced", timeout=40)
        titles = {r["data"]["title"] for r in server_records(server.url, app.space, "todos")
                  .values()}
        assert titles == {"water the plants", "call the plumber", "buy stamps"}
        assert app.errors == []
    finally:
        context.close()


def test_a_server_that_cannot_write_is_shown_busy_and_retried(
    browser: Browser, demo: ServerProcess, artifacts: Path
) -> None:
    proxy = FlakyProxy(demo.url, fail_pushes=2, busy=True).start()
    context = browser.new_context(viewport={"width": 480, "height": 420})
    try:
        app = DemoPage.open(context, proxy.url, f"b-{uuid.uuid4().hex[:10]}")
        app.add("renew the passport")
        text = wait_state(app, "busy")
        assert text == ("Server busy, retrying | The sync server is up but cannot save right now. "
                        "1 change waits on this device; retrying by itself."), text
        app.page.screenshot(path=artifacts / "demo-state-busy.png")
        # The page tries again by itself (2 s, then 4 s later), with no new write.
        app.wait_synced(timeout=30)
        wait_state(app, "synced")
        assert proxy.stats()["refused"] == 2
    finally:
        context.close()
        proxy.stop()


def test_a_lost_edit_is_told_in_words_on_its_item(
    browser: Browser, demo: ServerProcess, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 480, "height": 720})
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        app.add("buy milk")
        app.add("walk the dog")
        app.wait_synced()
        [milk, _] = ids_of(app, "todos")

        context.set_offline(True)
        app.rename("buy milk", "buy oat milk")
        poll(app.page, lambda: app.pending() == 1, what="the queued edit")
        # Meanwhile another device renames it, later by the clock: its change wins (merge).
        other_device_edit(demo.url, app.space, "todos", milk, "buy soy milk", base=1,
                          ms=app.page.evaluate("Date.now()") + 1000)
        context.set_offline(False)
        app.wait_synced()

        row = app.page.locator(f'#todos > li[data-id="{milk}"]')
        poll(app.page, lambda: row.get_attribute("data-conflicts") == "1", what="the marker")
        assert row.locator(".conflict-marker").is_visible()
        other = app.page.locator("#todos > li >> nth=1")
        assert other.locator(".conflict-marker").is_hidden(), "only the affected item is marked"
        poll(app.page, lambda: row.locator(".title").input_value() == "buy soy milk",
             what="the other device's title on the item")
        row.locator(".conflict-marker").click()
        text = row.locator(".conflicts-of-item").inner_text()
        assert text.startswith("Your edit to ‘buy oat milk’ was made on an older copy"), text
        assert "the other device's" in text and "kept" in text, text
        assert "stale_base_version" not in app.page.inner_text("body")
        assert row.locator(".keep-mine").count() == 0, "todos settle by themselves"
        # The list of conflicts names the item and leads to it.
        assert app.page.inner_text("#conflicts").startswith(
            "‘buy oat milk’: another device's change was kept.")
        row.locator(".conflict-marker").click()  # closed again
        assert row.locator(".conflicts-of-item").is_hidden()
        app.page.click("#conflicts .show-item")
        assert row.locator(".conflicts-of-item").is_visible()
        app.page.screenshot(path=artifacts / "demo-conflict-worded.png", full_page=True)
    finally:
        context.close()


def test_keep_mine_and_keep_theirs_settle_a_manual_conflict(
    browser: Browser, demo: ServerProcess, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 480, "height": 760})
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        add_note(app, "door code 1234")
        add_note(app, "meet at noon")
        app.wait_synced()
        code, meet = ids_of(app, "notes")

        context.set_offline(True)
        rename_in(app, "notes", 0, "door code 4321")
        rename_in(app, "notes", 1, "meet at one")
        poll(app.page, lambda: app.pending() == 2, what="two queued edits")
        now = app.page.evaluate("Date.now()")
        other_device_edit(demo.url, app.space, NOTES, code, "door code 9999", 1, now + 1000)
        other_device_edit(demo.url, app.space, NOTES, meet, "meet at two", 1, now + 1000)
        context.set_offline(False)
        app.wait_synced()

        rows = {rid: app.page.locator(f'#notes > li[data-id="{rid}"]') for rid in (code, meet)}
        for row in rows.values():
            poll(app.page, lambda r=row: r.get_attribute("data-conflicts") == "1", what="marks")
        # Nothing was overwritten: the server kept the other device's text meanwhile.
        poll(app.page, lambda: rows[code].locator(".title").input_value() == "door code 9999",
             what="the other device's text on the item")
        rows[code].locator(".conflict-marker").click()
        text = rows[code].locator(".conflicts-of-item .words").inner_text()
        assert text.startswith("Your edit to ‘door code 4321’ was made on an older copy"), text
        assert "choose which version to keep" in text, text
        assert rows[code].locator(".keep-mine").inner_text() == "Keep mine: ‘door code 4321’"
        assert rows[code].locator(".keep-theirs").inner_text() == "Keep theirs: ‘door code 9999’"
        app.page.screenshot(path=artifacts / "demo-conflict-choice.png", full_page=True)
        with httpx.Client(base_url=demo.url, timeout=10) as http:
            opened = http.get("/v1/conflicts", params={"space": app.space, "status": "open"})
            assert {c["record_id"] for c in opened.json()["conflicts"]} == {code, meet}

            rows[code].locator(".keep-mine").click()
            poll(app.page, lambda: rows[code].get_attribute("data-conflicts") == "0",
                 what="the marker to go")
            poll(app.page, lambda: rows[code].locator(".title").input_value() == "door code 4321",
                 what="my text back on the item")
            rows[meet].locator(".conflict-marker").click()
            rows[meet].locator(".keep-theirs").click()
            poll(app.page, lambda: rows[meet].get_attribute("data-conflicts") == "0",
                 what="the second marker to go")
            poll(app.page, lambda: app.page.locator("li.remote").count() == 0,
                 what="the highlight of the other device's change to fade (for the picture)")
            app.page.screenshot(path=artifacts / "demo-conflict-resolved.png", full_page=True)

            # The server's record: mine written as a new version, theirs left as it was.
            records = server_records(demo.url, app.space, NOTES)
            assert records[code]["data"]["title"] == "door code 4321"
            assert records[code]["version"] == 3
            assert records[meet]["data"]["title"] == "meet at two"
            assert records[meet]["version"] == 2
            resolved = {c["record_id"]: c for c in http.get("/v1/conflicts", params={
                "space": app.space, "status": "resolved"}).json()["conflicts"]}
            assert resolved[code]["outcome"]["resolution"] == {"accept": "client"}
            assert resolved[meet]["outcome"]["resolution"] == {"accept": "server"}
            assert http.get("/v1/conflicts", params={"space": app.space, "status": "open"}
                            ).json()["conflicts"] == []
        assert app.page.evaluate("async () => (await window.app.sync.conflicts()).length") == 0
        poll(app.page, lambda: app.page.is_hidden("#conflicts-panel"), what="no conflicts left")
        assert app.errors == []
    finally:
        context.close()


def test_typing_in_an_item_survives_another_devices_change_arriving(
    browser: Browser, demo: ServerProcess
) -> None:
    # A change arriving re-renders the list: a row moved in the DOM loses its focus, and the
    # text being typed in it was then overwritten with the stored title.
    context = browser.new_context(viewport={"width": 480, "height": 760})
    try:
        app = DemoPage.open(context, demo.url, f"t-{uuid.uuid4().hex[:10]}")
        add_note(app, "first")
        add_note(app, "second")
        app.wait_synced()
        first, second = ids_of(app, "notes")
        field = app.page.locator(f'#notes > li[data-id="{second}"] .title')
        field.click()
        field.press("End")
        field.type(" draft")  # typed, not yet committed (no Enter, no blur)
        now = app.page.evaluate("Date.now()")
        other_device_edit(demo.url, app.space, NOTES, first, "first, edited elsewhere", 1, now)
        poll(app.page, lambda: app.page.locator(f'#notes > li[data-id="{first}"] .title')
             .input_value() == "first, edited elsewhere", what="the other device's change")
        assert field.input_value() == "second draft"
        focused = app.page.evaluate("document.activeElement?.closest('li')?.dataset.id")
        assert focused == second
    finally:
        context.close()
