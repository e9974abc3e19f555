"""A subscription the server ends with an `error` frame (`storage_unavailable`) is not the
end of the page's feed: the page shows the server's trouble, subscribes again with backoff,
and once storage reads again it catches up and goes live, with no reload and no restart.

The failure is real: while the server runs, the SQLite pages that hold one space's records
are damaged in the file (overflow pages of large records, as tests/core/test_ws_faults.py
does), so every read of that space's feed fails inside SQLite; the test then puts the
original bytes back."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.helpers import mutation, push

PAGE = 4096
MARKER = b"Q" * (PAGE - 4)  # an overflow page: a 4-byte next-page number, then payload only


def checkpoint(db: Path) -> None:
    """Move every page of the WAL into the database file and empty the WAL, from outside
    the running server (readers go to the file for every page from then on)."""
    deadline = time.monotonic() + 20
    conn = sqlite3.connect(db, timeout=10)
    try:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE
        while conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] != 0:
            assert time.monotonic() < deadline, "the WAL could not be checkpointed"
            time.sleep(0.05)  # a server reader holds an older snapshot for a moment
    finally:
        conn.close()


def damage_in_place(db: Path) -> dict[int, bytes]:
    """Point every marker page's next-page number past the end of the file, writing only
    those 4 bytes of each page. Returns the original bytes by offset, to repair them."""
    data = db.read_bytes()
    originals = {offset: data[offset:offset + 4] for offset in range(0, len(data), PAGE)
                 if data[offset + 4:offset + PAGE] == MARKER}
    with open(db, "r+b") as f:
        for offset in originals:
            f.seek(offset)
            f.write(b"\x7f\xff\xff\xff")
    return originals


def repair(db: Path, originals: dict[int, bytes]) -> None:
    with open(db, "r+b") as f:
        for offset, original in originals.items():
            f.seek(offset)
            f.write(original)


def test_a_subscription_ended_by_storage_trouble_is_resubscribed_and_goes_live(
        browser: Browser, server_factory, tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    server = server_factory(db=db, demo=True)
    space = f"b-{uuid.uuid4().hex[:10]}"
    titles = [f"big {i}" for i in range(1, 4)]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        push(http, "w-big", [mutation(i, f"big{i}", space=space, node="w-big",
                                      data={"title": title, "blob": "Q" * 30_000})
                             for i, title in enumerate(titles, 1)])
        checkpoint(db)
        originals = damage_in_place(db)
        assert len(originals) >= 3
        # A write elsewhere changes the WAL: every server reader drops its page cache at its
        # next read, so the damaged bytes are what it reads.
        push(http, "w-other", [mutation(1, "o1", space="elsewhere", node="w-other")])
        assert http.get("/v1/changes", params={"space": space}).status_code == 503

        context = browser.new_context()
        try:
            app = DemoPage.open(context, server.url, space)
            # The server ended the subscription (`storage_unavailable`): the page says so
            # instead of waiting for a catch-up that never comes.
            poll(app.page, lambda: app.status() == "server-busy", timeout=20,
                 what="the page to show the server's storage trouble")
            assert app.titles() == []

            repair(db, originals)
            push(http, "w-other", [mutation(2, "o2", space="elsewhere", node="w-other")])
            assert http.get("/v1/changes", params={"space": space}).status_code == 200

            poll(app.page, lambda: sorted(app.titles()) == titles, timeout=40,
                 what="the records once storage reads again")
            poll(app.page, lambda: app.page.evaluate("window.app.sync.feedState") == "live",
                 timeout=20, what="the feed to be live again")
            poll(app.page, lambda: app.status() == "up-to-date", what="the page to be up to date")

            # Live: a change made now arrives over the resubscribed feed.
            push(http, "w-big", [mutation(4, "after", space=space, node="w-big",
                                          data={"title": "after the repair"})])
            poll(app.page, lambda: "after the repair" in app.titles(),
                 what="a live change after the resubscribe")
            assert app.errors == []
        finally:
            context.close()
