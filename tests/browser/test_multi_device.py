"""Two devices (browser contexts, each with its own worker and database) on one space."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.server import ServerProcess


def test_a_change_appears_on_another_device_within_a_second(
    browser: Browser, demo: ServerProcess
) -> None:
    space = f"b-{uuid.uuid4().hex[:10]}"
    one, two = browser.new_context(), browser.new_context()
    try:
        writer = DemoPage.open(one, demo.url, space)
        reader = DemoPage.open(two, demo.url, space)
        poll(
            reader.page,
            lambda: reader.status() == "up-to-date",
            what="the reader's feed to be live",
        )
        assert reader.page.evaluate("window.app.sync.feedState") == "live"

        started = time.monotonic()
        writer.add("live over the socket")
        reader.page.wait_for_function(
            "() => [...document.querySelectorAll('#todos li .title')]"
            "  .some(e => e.value === 'live over the socket')",
            timeout=1000,
        )
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, elapsed
        # It came from the feed (the WebSocket), not from this device.
        remote = [c for c in reader.events("changes") if c["origin"] == "remote"]
        assert remote, reader.events("changes")
        assert reader.page.evaluate("window.app.sync.feedState") == "live"
    finally:
        one.close()
        two.close()


def test_concurrent_offline_edits_end_with_the_servers_resolution(
    browser: Browser, demo: ServerProcess
) -> None:
    space = f"b-{uuid.uuid4().hex[:10]}"
    one, two = browser.new_context(), browser.new_context()
    try:
        alice = DemoPage.open(one, demo.url, space)
        bob = DemoPage.open(two, demo.url, space)
        alice.add("shared todo")
        alice.wait_synced()
        poll(bob.page, lambda: bob.titles() == ["shared todo"], what="bob to receive the todo")
        poll(
            bob.page,
            lambda: (
                bob.page.evaluate("async () => (await window.app.todos.all())[0]?.version") == 1
            ),
            what="bob at version 1",
        )

        one.set_offline(True)
        two.set_offline(True)
        alice.rename("shared todo", "alice's title")
        poll(alice.page, lambda: alice.pending() == 1, what="alice's queued edit")
        # Bob edits later by the clock, so last-writer-wins settles the same title on every
        # server policy; wait out the millisecond so the stamps cannot tie.
        alice_ms = alice.page.evaluate("Date.now()")
        poll(
            bob.page, lambda: bob.page.evaluate("Date.now()") > alice_ms, what="a later millisecond"
        )
        bob.rename("shared todo", "bob's title")
        poll(bob.page, lambda: bob.pending() == 1, what="bob's queued edit")

        # Bob reaches the server first; Alice's write is then based on a stale version.
        two.set_offline(False)
        bob.wait_synced()
        one.set_offline(False)
        alice.wait_synced()

        [record] = server_todos(demo.url, space).values()
        final = record["data"]["title"]
        assert final == "bob's title"
        for device in (alice, bob):
            poll(device.page, lambda titles=device.titles: titles() == [final],
                 what="both devices to converge")
            assert (
                device.page.evaluate("async () => (await window.app.todos.all())[0].version")
                == record["version"]
            )
        # The conflict event fired where the write lost, and only there.
        assert bob.events("conflicts") == []
        [conflict] = poll(
            alice.page, lambda: alice.events("conflicts"), what="alice's conflict event"
        )
        assert conflict["result"]["status"] in ("conflict", "merged")
        assert conflict["mutation"]["data"]["title"] == "alice's title"
        assert conflict["record"]["data"]["title"] == final
        if conflict["result"]["status"] == "merged":
            assert {"field": "title", "winner": "server"} in conflict["result"]["resolution"][
                "fields"
            ]
        assert alice.page.is_visible("#conflicts-panel")
        assert "alice's title" in alice.page.inner_text("#conflicts")
    finally:
        one.close()
        two.close()


def test_other_tabs_hear_local_changes_without_a_network(
    browser: Browser, demo: ServerProcess
) -> None:
    space = f"b-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        first = DemoPage.open(context, demo.url, space)
        second = DemoPage.open(context, demo.url, space)
        context.set_offline(True)  # no feed: only the BroadcastChannel can tell the other tab
        first.add("told over the channel")
        poll(
            second.page,
            lambda: second.titles() == ["told over the channel"],
            what="the other tab to show the write",
        )
        assert second.pending() == 1
        assert [c["origin"] for c in second.events("changes")] == ["local"]
    finally:
        context.close()
