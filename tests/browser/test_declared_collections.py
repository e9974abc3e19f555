"""Declared collections in a real browser: the demo on a server started with a collections
file whose `todos` schema bounds a title to 40 characters. A title too long is refused by
the page itself, with the validator's words and the place, before anything is queued;
after a reload with no network (the app from its worker's cache, the schema from
IndexedDB) it still is; a valid todo written offline syncs once the network is back, and
the refused ones never reach the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.server import ServerProcess

COLLECTIONS = """\
undeclared = "allow"

[collections.todos.schema]
type = "object"
required = ["title"]
properties.title = { type = "string", maxLength = 40 }
properties.done = { type = "boolean" }
"""
TOO_LONG = "a title far longer than the forty characters the schema allows"


@pytest.fixture(scope="module")
def declaring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("declared")
    (folder / "collections.toml").write_text(COLLECTIONS)
    server = ServerProcess(folder / "sync.db", demo=True, env={
        "SYNCSERVER_COLLECTIONS": str(folder / "collections.toml")}).start()
    yield server
    server.stop()


def submit(app: DemoPage, title: str) -> None:
    app.page.fill("#title", title)
    app.page.click("#new-todo button[type=submit]")


def refused_with(app: DemoPage) -> str:
    """The refusal the demo shows (waits for it)."""
    app.page.wait_for_selector("#write-error", state="visible", timeout=5000)
    return app.page.inner_text("#write-error")


def test_an_invalid_todo_is_refused_in_the_page_offline_too_and_a_valid_one_syncs(
        browser: Browser, declaring: ServerProcess) -> None:
    context = browser.new_context()
    try:
        app = DemoPage.open(context, declaring.url, f"b-{uuid.uuid4().hex[:10]}")
        assert app.page.evaluate("window.app.sync.declaration.declared") is True
        app.add("milk")
        submit(app, TOO_LONG)
        words = f'Not saved: "{TOO_LONG}" is longer than 40 characters (at /title).'
        assert refused_with(app) == words
        assert app.titles() == ["milk"], "nothing shown"
        assert app.page.input_value("#title") == TOO_LONG, "the text stays to be fixed"
        # The library's own error, as an app sees it.
        error = app.page.evaluate("""() => window.app.todos.put('t-x', { title: 5 })
            .then(() => null, (e) => [e.name, e.code, e.pointer, e.detail])""")
        assert error == ["SchemaInvalidError", "schema_invalid", "/title",
                         '5 is not of type "string"']
        app.wait_synced()

        # No network: the page reloads from the worker's cache, the client starts with the
        # schema it kept in IndexedDB, and refuses the same way.
        context.set_offline(True)
        response = app.page.reload()
        assert response is not None and response.from_service_worker
        app.wait_ready()
        assert app.page.evaluate("window.app.sync.status") == "offline"
        assert app.page.evaluate("window.app.sync.declaration.declared") is True
        submit(app, TOO_LONG)
        assert refused_with(app) == words
        app.add("bread")  # valid: queued offline, and the refusal goes
        assert app.page.is_hidden("#write-error")
        poll(app.page, lambda: app.pending() == 1, what="one queued write")
        assert app.outbox() == 1

        context.set_offline(False)
        app.wait_synced()
        titles = poll(app.page, lambda: sorted(t["data"]["title"] for t in server_todos(
            declaring.url, app.space).values()) == ["bread", "milk"] or None,
            what="the two valid todos on the server")
        assert titles
        assert app.errors == []
    finally:
        context.close()
