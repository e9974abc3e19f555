"""Offline writes reach the real server: through Background Sync in the service worker,
after a 503, through the page fallback where Background Sync is missing, and the app works
after a reload without a network."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, CDPSession, Page

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.browser.proxy import FlakyProxy
from tests.server import ServerProcess


def new_space() -> str:
    return f"b-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("worker", ["classic", "module"])
def test_offline_writes_reach_the_server_once_via_background_sync(
    browser: Browser, demo: ServerProcess, worker: str
) -> None:
    context = browser.new_context()
    try:
        app = DemoPage.open(context, demo.url, new_space(), worker=worker)
        context.set_offline(True)
        for title in ("milk", "eggs", "bread"):
            app.add(title)
        app.rename("eggs", "free-range eggs")  # put then patch of one record, chained offline
        poll(app.page, lambda: app.pending() == 4, what="four pending writes")
        assert app.outbox() == 4
        assert app.sync_tag() in app.sync_tags(), "the write armed Background Sync"
        assert server_todos(demo.url, app.space) == {}

        context.set_offline(False)
        app.wait_synced()

        def all_three() -> dict[str, dict] | None:
            todos = server_todos(demo.url, app.space)
            return todos if len(todos) == 3 else None

        todos = poll(app.page, all_three, what="three todos on the server")
        by_title = {rec["data"]["title"]: rec for rec in todos.values()}
        assert set(by_title) == {"milk", "free-range eggs", "bread"}
        # Exactly once: one version per accepted mutation, nothing applied twice.
        assert by_title["milk"]["version"] == 1 and by_title["bread"]["version"] == 1
        assert by_title["free-range eggs"]["version"] == 2
        sources = {event["source"] for event in app.events("replays")}
        assert sources == {"worker:sync"}, sources
        assert app.errors == []
    finally:
        context.close()


def registration_id(page: Page, cdp: CDPSession, scope: str) -> str:
    """The id CDP uses for the page's activated worker registration."""
    registrations: dict[str, str] = {}
    activated: set[str] = set()
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update(
            {r["registrationId"]: r["scopeURL"] for r in event["registrations"]}
        ),
    )
    cdp.on(
        "ServiceWorker.workerVersionUpdated",
        lambda event: activated.update(
            v["registrationId"] for v in event["versions"] if v["status"] == "activated"
        ),
    )
    cdp.send("ServiceWorker.enable")
    return poll(
        page,
        lambda: next(
            (rid for rid, url in registrations.items() if url == scope and rid in activated), None
        ),
        what="the worker registration over CDP",
    )


def test_a_503_loses_nothing_and_the_next_sync_delivers(
    browser: Browser, demo: ServerProcess
) -> None:
    proxy = FlakyProxy(demo.url, fail_pushes=1).start()
    context = browser.new_context()
    try:
        app = DemoPage.open(context, proxy.url, new_space())
        cdp = context.new_cdp_session(app.page)
        rid = registration_id(app.page, cdp, proxy.url + "/")
        context.set_offline(True)
        app.add("call the plumber")
        app.add("buy a plant")
        context.set_offline(False)

        poll(
            app.page, lambda: proxy.stats()["refused"] == 1, what="the first replay to get its 503"
        )
        poll(
            app.page,
            lambda: any(e["state"] == "error" for e in app.events("replays")),
            what="the worker to report the failed replay",
        )
        # The 503 dropped nothing: the entries stay queued until a later replay delivers
        # them. The page's own fallback (or a browser retry) may already have done so on a
        # slow machine; otherwise fire the next sync now (the browser backs off for minutes
        # after a failed one).
        queued = app.outbox()
        if queued:
            assert queued == 2, "nothing was dropped"
            cdp.send(
                "ServiceWorker.dispatchSyncEvent",
                {"origin": proxy.url, "registrationId": rid, "tag": app.sync_tag(),
                 "lastChance": False},
            )
        app.wait_synced()
        todos = server_todos(demo.url, app.space)
        assert sorted(rec["data"]["title"] for rec in todos.values()) == [
            "buy a plant",
            "call the plumber",
        ]
        assert all(rec["version"] == 1 for rec in todos.values())
        # Both delivered once, by one replay after the refused one.
        assert proxy.stats() == {"refused": 1, "forwarded": 1}, app.events("replays")
    finally:
        context.close()
        proxy.stop()


def test_without_background_sync_the_page_delivers_the_outbox(
    browser: Browser, demo: ServerProcess
) -> None:
    context = browser.new_context()
    # Firefox and Safari have no Background Sync: remove it before the app starts.
    context.add_init_script("""
        delete window.SyncManager;
        delete ServiceWorkerRegistration.prototype.sync;
    """)
    try:
        app = DemoPage.open(context, demo.url, new_space())
        assert app.page.evaluate("typeof SyncManager") == "undefined"
        context.set_offline(True)
        app.add("water the plants")
        app.add("pay rent")
        assert app.outbox() == 2
        context.set_offline(False)
        app.wait_synced()
        todos = server_todos(demo.url, app.space)
        assert sorted(rec["data"]["title"] for rec in todos.values()) == [
            "pay rent",
            "water the plants",
        ]
        sources = {event["source"] for event in app.events("replays")}
        assert sources and all(s.startswith("page:") for s in sources), sources
    finally:
        context.close()


def test_a_reload_while_offline_shows_the_app_and_its_data(
    browser: Browser, demo: ServerProcess
) -> None:
    context = browser.new_context()
    try:
        app = DemoPage.open(context, demo.url, new_space())
        app.add("synced before")
        app.wait_synced()
        context.set_offline(True)
        app.add("written offline")
        response = app.page.reload()
        assert response is not None and response.from_service_worker
        app.wait_ready()
        poll(
            app.page,
            lambda: sorted(app.titles()) == ["synced before", "written offline"],
            what="both todos after the offline reload",
        )
        assert app.pending() == 1
        assert app.status() == "offline"
        # A page never cached gets the offline fallback page rather than the browser's error.
        other = context.new_page()
        fallback = other.goto(f"{demo.url}/reports/2026")
        assert fallback is not None and fallback.from_service_worker
        assert "You are offline" in other.inner_text("main")
        other.close()
        # And the queued write still goes out once the network is back.
        context.set_offline(False)
        app.wait_synced()
        assert len(server_todos(demo.url, app.space)) == 2
    finally:
        context.close()
