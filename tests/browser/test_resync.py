"""A server whose database was replaced (a restore from an older backup) answers the page's
cursor with resync_required: the page drops its copy of the space, keeps its queued writes,
pulls everything again and tells the app."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.helpers import mutation

# One cursor secret for both databases (an operator who sets SYNCSERVER_SECRET): the page's
# cursor is genuine but ahead of the restored feed, so the answer is 410, not bad_cursor.
SECRET = {"SYNCSERVER_SECRET": "browser-resync-test"}


def test_a_restored_database_makes_the_page_resync_and_keep_its_outbox(
    browser: Browser, server_factory, tmp_path: Path
) -> None:
    space = f"b-{uuid.uuid4().hex[:10]}"
    server = server_factory(db=tmp_path / "before.db", demo=True, env=SECRET)
    context = browser.new_context()
    try:
        app = DemoPage.open(context, server.url, space)
        for title in ("lost in the restore", "also lost"):
            app.add(title)
        app.wait_synced()
        poll(app.page, lambda: app.status() == "up-to-date", what="a live feed")

        context.set_offline(True)
        app.add("queued offline")
        poll(app.page, lambda: app.pending() == 1, what="one pending write")

        server.stop()
        restored = server_factory(db=tmp_path / "restored.db", demo=True, port=server.port,
                                  env=SECRET)
        with httpx.Client(base_url=restored.url, timeout=10) as client:
            body = {"client_id": "other-device", "mutations": [mutation(
                1, "after", data={"title": "written after the restore"}, space=space,
                node="other-device")]}
            assert client.post("/v1/push", json=body).json()["results"][0]["status"] == "applied"

        context.set_offline(False)
        expected = ["queued offline", "written after the restore"]
        poll(app.page, lambda: sorted(app.titles()) == expected, timeout=20,
             what="the restored server's records with the queued write on top")
        resyncs = app.events("resyncs")
        assert resyncs and {e["code"] for e in resyncs} == {"resync_required"}, resyncs
        # The demo also follows its user's private list, which starts over as well.
        assert [e["dropped"] >= 2 for e in resyncs if e["space"] == space] == [True], resyncs
        # The outbox survived the resync and reached the restored server.
        app.wait_synced()
        poll(app.page, lambda: sorted(
            r["data"]["title"] for r in server_todos(restored.url, space).values()) == expected,
            what="the queued write on the restored server")
        assert app.errors == []
    finally:
        context.close()
