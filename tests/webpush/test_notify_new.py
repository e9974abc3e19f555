"""Collections declared to notify (--webpush-notify-new): a sync nudge to another user's
device counts the records created there and carries the declared title; updates, deletes,
undeclared collections and the writer's own user get plain nudges."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.core.cli_support import assert_one_line_failure, run_syncserver
from tests.helpers import mutation, push, wait_for
from tests.server import ServerProcess, free_port
from tests.webpush.pushservice import PushService
from tests.webpush.support import client, env, register

DECLARED = "messages=New message,todos=New item"


def put(http: httpx.Client, client_id: str, ids: range, collection: str = "messages",
        op: str = "put", base: int = 0) -> int:
    """Writes of records m<n> in `team` by `client_id`: the space's head after them. The
    mids are new for every write (100 * base + n: a record's next write raises its base)."""
    batch = [mutation(100 * base + (op == "delete") * 50 + n, f"m{n}", op=op, base=base,
                      space="team", collection=collection, node=client_id) for n in ids]
    return max(int(r["seq"]) for r in push(http, client_id, batch)["results"])


def test_new_records_in_a_declared_collection_reach_other_users_with_counts_and_title(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env(SYNCSERVER_WEBPUSH_NOTIFY_NEW=DECLARED))
    bobs, phone = push_service.device("bob"), push_service.device("phone")
    with client(server.url, "alice") as alice, client(server.url, "bob") as bob:
        assert register(bob, "c-bob", bobs.subscription(), ["team"]).status_code == 201
        assert register(alice, "c-phone", phone.subscription(), ["team"]).status_code == 201
        head = put(alice, "c-laptop", range(1, 3))  # two new messages
        wait_for(lambda: bobs.received and phone.received, what="the nudges")
        assert bobs.payloads == [{"type": "sync", "space": "team", "head": head,
                                  "new": {"messages": 2}, "title": "New message"}]
        # Alice's other device: her own records, a plain nudge.
        assert phone.payloads == [{"type": "sync", "space": "team", "head": head}]

        # An update and a delete of existing records create nothing.
        head = put(alice, "c-laptop", range(1, 2), base=1)
        wait_for(lambda: len(bobs.received) == 2, what="the update's nudge")
        head = put(alice, "c-laptop", range(2, 3), op="delete", base=1)
        wait_for(lambda: len(bobs.received) == 3, what="the delete's nudge")
        # A new record in an undeclared collection is a plain change too.
        head = put(alice, "c-laptop", range(10, 11), collection="notes")
        wait_for(lambda: len(bobs.received) == 4, what="the undeclared collection's nudge")
        assert [set(p or {}) for p in bobs.payloads[1:]] == [{"type", "space", "head"}] * 3
        assert bobs.payloads[-1] == {"type": "sync", "space": "team", "head": head}


def test_held_nudges_sum_the_new_records_and_title_the_collection_with_most(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env(min_interval=2,
                                                   SYNCSERVER_WEBPUSH_NOTIFY_NEW=DECLARED))
    bobs = push_service.device("bob")
    with client(server.url, "alice") as alice, client(server.url, "bob") as bob:
        assert register(bob, "c-bob", bobs.subscription(), ["team"]).status_code == 201
        put(alice, "c-laptop", range(1, 2))
        wait_for(lambda: bobs.received, what="the first nudge")
        put(alice, "c-laptop", range(2, 3))  # held: within the interval
        put(alice, "c-laptop", range(3, 6), collection="todos")
        head = put(alice, "c-laptop", range(6, 7), base=0, collection="notes")
        # Bob's own new message does not count for his device.
        put(bob, "c-bob-laptop", range(7, 9))
        wait_for(lambda: len(bobs.received) == 2, what="the held nudge", timeout=15)
        assert bobs.payloads == [
            {"type": "sync", "space": "team", "head": 1, "new": {"messages": 1},
             "title": "New message"},
            {"type": "sync", "space": "team", "head": head + 2,
             "new": {"messages": 1, "todos": 3}, "title": "New item"}]


def test_without_declared_collections_a_new_record_nudges_plainly(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env())
    bobs = push_service.device("bob")
    with client(server.url, "alice") as alice, client(server.url, "bob") as bob:
        assert register(bob, "c-bob", bobs.subscription(), ["team"]).status_code == 201
        head = put(alice, "c-laptop", range(1, 3))
        wait_for(lambda: bobs.received, what="the nudge")
        assert bobs.payloads == [{"type": "sync", "space": "team", "head": head}]


def test_a_bad_notify_new_value_stops_the_server_naming_the_setting(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    done = run_syncserver(["serve", "--db", str(db), "--no-demo", "--port", str(free_port())],
                          env=env(SYNCSERVER_WEBPUSH_NOTIFY_NEW="messages=New, a message"))
    assert_one_line_failure(done, "SYNCSERVER_WEBPUSH_NOTIFY_NEW", status=2)
    assert "expected collection=Title" in done.stderr
    assert not db.exists()
