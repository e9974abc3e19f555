"""Reads under declared role lists (issue 23), through a real server on SQLite and on
PostgreSQL: a token never receives a record of a collection it may not read, and of an
owner-only collection only its own records, on every read path: GET /v1/changes (and its
long-poll), POST /v1/pull, the WebSocket's catch-up and live frames, the conflict listing
and the record a push result carries. A `collections` filter naming a collection the token
may not read is refused, naming it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.helpers import metric_value
from tests.pg import BACKENDS

from .roles_support import ALL_ROLES, RoleServer, fresh, patch, put, role_server
from .test_ws_auth import hello, recv, send


@pytest.fixture(scope="module", params=BACKENDS)
def rs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with role_server(request.param, tmp_path_factory.mktemp(f"reads-{request.param}")) as s:
        yield s


# Who reads what of a space written by `_populate` (roles_support.COLLECTIONS):
# open, plain: everyone; team: member, auditor; mine, notes: owners, auditors; secret: admin.
READERS = {
    "bob": ([], {"open/o1", "plain/p1", "mine/b1"}),
    "alice": (["member"], {"open/o1", "plain/p1", "team/t1", "mine/a1", "notes/n1"}),
    "aud": (["auditor"], {"open/o1", "plain/p1", "team/t1", "mine/a1", "mine/b1", "notes/n1"}),
    "adm": (["admin"], {"open/o1", "plain/p1", "secret/s1"}),
    "all": (ALL_ROLES, {"open/o1", "plain/p1", "team/t1", "mine/a1", "mine/b1", "notes/n1",
                        "secret/s1"}),
}


class World:
    """A space written by alice (a member), bob and an admin; tokens of each reader."""

    def __init__(self, rs: RoleServer) -> None:
        self.rs = rs
        self.space = fresh()
        self.users = {name: fresh(name) for name in READERS}
        self.clients = {name: fresh("c") for name in READERS}

    def token(self, name: str, right: str = "r", roles: Any = None,
              spaces: dict[str, str] | None = None) -> str:
        return self.rs.token(self.users[name], spaces or {self.space: right},
                             READERS[name][0] if roles is None else roles)

    def push(self, name: str, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        results = self.rs.push(self.token(name, "rw", ALL_ROLES), self.clients[name],
                               list(mutations))
        return results

    def populate(self) -> World:
        s = self.space
        assert {r["status"] for r in self.push(
            "alice", put(1, s, "open", "o1"), put(2, s, "plain", "p1"), put(3, s, "team", "t1"),
            put(4, s, "mine", "a1"), put(5, s, "notes", "n1"))} == {"applied"}
        assert self.push("bob", put(1, s, "mine", "b1"))[0]["status"] == "applied"
        assert self.push("adm", put(1, s, "secret", "s1"))[0]["status"] == "applied"
        return self


def names(changes: list[dict[str, Any]]) -> set[str]:
    return {f"{c['collection']}/{c['id']}" for c in changes}


@pytest.mark.parametrize("right", ["r", "rw"])
@pytest.mark.parametrize("reader", list(READERS))
def test_the_role_matrix_of_reads(rs: RoleServer, reader: str, right: str):
    world = World(rs).populate()
    stored = {f"{c}/{i}" for c, i in rs.query(
        "SELECT collection, id FROM records WHERE space = ?", world.space)}
    assert stored == READERS["all"][1]  # everything is stored: the reads leave some out
    changes = rs.feed(world.token(reader, right), world.space)
    assert names(changes) == READERS[reader][1]
    assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)


def test_pages_are_full_when_hidden_records_lie_between(rs: RoleServer):
    world = World(rs)
    s = world.space
    for n in range(6):  # each visible record between two hidden ones
        world.push("adm", put(3 * n + 1, s, "secret", f"s{n}"), put(3 * n + 2, s, "secret",
                                                                      f"t{n}"))
        world.push("alice", put(n + 1, s, "open", f"o{n}"))
    pages, cursor = [], ""
    while True:
        answer = rs.get(world.token("bob"), "/v1/changes", space=s, since=cursor, limit=2)
        page = answer.json()
        pages.append([c["id"] for c in page["changes"]])
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert pages[:3] == [["o0", "o1"], ["o2", "o3"], ["o4", "o5"]], pages
    assert all(not rest for rest in pages[3:]), pages


def test_a_filter_naming_a_collection_the_token_may_not_read_is_refused(rs: RoleServer):
    world = World(rs).populate()
    bob = world.token("bob")
    refused = rs.get(bob, "/v1/changes", space=world.space, collections="open,team")
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["code"] == "forbidden" and body["collection"] == "team"
    assert body["space"] == world.space and '"member"' in body["detail"]
    # an owner-only collection is not refused: its own records are read
    assert names(rs.feed(bob, world.space, collections="mine,open")) == {"mine/b1", "open/o1"}
    assert names(rs.feed(world.token("alice"), world.space, collections="team")) == {"team/t1"}


def test_a_long_poll_answers_only_with_what_the_token_may_read(rs: RoleServer):
    world = World(rs).populate()
    head = rs.get(world.token("bob"), "/v1/changes", space=world.space).json()["cursor"]
    answer: dict[str, Any] = {}

    def poll() -> None:
        answer.update(rs.get(world.token("bob"), "/v1/changes", space=world.space,
                             since=head, wait=20).json())

    polling = threading.Thread(target=poll)
    polling.start()
    world.push("adm", put(2, world.space, "secret", "s2"))  # wakes it, and is not sent
    world.push("alice", put(9, world.space, "team", "t2"), put(10, world.space, "open", "o2"))
    polling.join(30)
    assert names(answer["changes"]) == {"open/o2"}, answer


def test_a_pull_of_many_spaces_reads_each_as_its_roles_allow(rs: RoleServer):
    world, other = World(rs).populate(), World(rs)
    other.users = world.users  # the same users write and read a second space
    other.populate()
    token = rs.token(world.users["bob"], {world.space: "r", other.space: "r"},
                     {other.space: ["member"]})
    body: dict[str, Any] = {"cursors": {world.space: "", other.space: ""}}
    answer = httpx.post(f"{rs.url}/v1/pull", json=body, timeout=30,
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert names(answer["spaces"][world.space]["changes"]) == {"open/o1", "plain/p1",
                                                              "mine/b1"}
    assert names(answer["spaces"][other.space]["changes"]) == {"open/o1", "plain/p1",
                                                              "mine/b1", "team/t1"}
    body["collections"] = ["team", "open"]  # team: hidden in the first space only
    answer = httpx.post(f"{rs.url}/v1/pull", json=body, timeout=30,
                        headers={"Authorization": f"Bearer {token}"}).json()
    error = answer["spaces"][world.space]["error"]
    assert error["code"] == "forbidden" and error["collection"] == "team", answer
    assert "'team'" in error["detail"]
    assert names(answer["spaces"][other.space]["changes"]) == {"open/o1", "team/t1"}


def test_websocket_catch_up_and_live_frames_hold_only_what_each_reader_may_read(
        rs: RoleServer):
    world = World(rs).populate()
    s = world.space
    readers = ["bob", "alice", "aud", "adm"]
    live = {  # what each is sent of the batches below
        "bob": {"open/o2", "mine/b2", "open/end"},
        "alice": {"open/o2", "team/t2", "mine/a2", "open/end"},
        "aud": {"open/o2", "team/t2", "mine/a2", "mine/b2", "open/end"},
        "adm": {"open/o2", "secret/s2", "open/end"},
    }

    async def scenario() -> dict[str, tuple[set[str], set[str]]]:
        async with contextlib.AsyncExitStack() as stack:
            return await watch(stack)

    async def watch(stack: contextlib.AsyncExitStack) -> dict[str, tuple[set[str], set[str]]]:
        sockets = {}
        for name in readers:
            ws = await stack.enter_async_context(connect(rs.server.ws_url))
            sockets[name] = ws
            await hello(ws, world.token(name))
            await send(ws, {"type": "subscribe", "space": s, "cursor": ""})
        caught: dict[str, set[str]] = {}
        for name, ws in sockets.items():
            caught[name] = set()
            while (frame := await recv(ws))["type"] != "synced":
                assert frame["type"] == "changes", frame
                caught[name] |= names(frame["changes"])
        # live: batches mixing what some may read and others may not
        await asyncio.to_thread(world.push, "alice", put(10, s, "team", "t2"),
                                put(11, s, "mine", "a2"), put(12, s, "open", "o2"))
        await asyncio.to_thread(world.push, "bob", put(10, s, "mine", "b2"))
        await asyncio.to_thread(world.push, "adm", put(10, s, "secret", "s2"))
        await asyncio.to_thread(world.push, "alice", put(13, s, "open", "end"))
        got: dict[str, set[str]] = {}
        for name, ws in sockets.items():
            got[name] = set()
            while "open/end" not in got[name]:  # the last batch: everyone reads it
                frame = await recv(ws)
                assert frame["type"] == "changes" and frame["live"], frame
                got[name] |= names(frame["changes"])
        return {name: (caught[name], got[name]) for name in readers}

    seen = asyncio.run(scenario())
    for name in readers:
        assert seen[name] == (READERS[name][1], live[name]), name


def test_a_token_refresh_that_hides_a_filtered_collection_ends_that_subscription(
        rs: RoleServer):
    world = World(rs).populate()

    async def scenario() -> list[dict[str, Any]]:
        async with connect(rs.server.ws_url) as ws:
            await hello(ws, world.token("bob", roles=["member"]))
            await send(ws, {"type": "subscribe", "space": world.space, "cursor": "",
                            "collections": ["team"]})
            assert names((await recv(ws))["changes"]) == {"team/t1"}
            assert (await recv(ws))["type"] == "synced"
            await send(ws, {"type": "hello", "token": world.token("bob", roles=[])})
            ended = await recv(ws)  # member no more: told before the welcome
            welcome = await recv(ws)
            await send(ws, {"type": "ping"})
            return [ended, welcome, await recv(ws)]

    ended, welcome, pong = asyncio.run(scenario())
    assert welcome["type"] == "welcome"
    assert ended["type"] == "error" and ended["code"] == "forbidden", ended
    assert ended["collection"] == "team" and "subscription ended" in ended["detail"]
    assert pong == {"type": "pong"}  # the connection goes on


def test_the_conflict_listing_shows_only_conflicts_of_readable_records(rs: RoleServer):
    world = World(rs).populate()
    s = world.space
    world.push("bob", put(2, s, "notes", "n2"))
    # stale writes: open conflicts of the manual `notes`, a resolved one of `team`
    world.push("aud", patch(1, s, "notes", "n1", {"x": 1}, 0),
               patch(2, s, "notes", "n2", {"x": 1}, 0), patch(3, s, "team", "t1", {"x": 1}, 0))

    def listed(name: str, **params: Any) -> set[str]:
        answer = rs.get(world.token(name), "/v1/conflicts", space=s, **params)
        assert answer.status_code == 200, answer.text
        return {f"{c['collection']}/{c['record_id']}" for c in answer.json()["conflicts"]}

    assert listed("aud") == {"notes/n1", "notes/n2", "team/t1"}
    assert listed("alice") == {"notes/n1", "team/t1"}
    assert listed("bob") == {"notes/n2"}
    assert listed("adm") == set()
    refused = rs.get(world.token("bob"), "/v1/conflicts", space=s, collection="team")
    assert refused.status_code == 403 and refused.json()["collection"] == "team"
    # without ?space= too: across the spaces the token reads
    everywhere = rs.get(world.token("bob"), "/v1/conflicts").json()["conflicts"]
    assert {f"{c['collection']}/{c['record_id']}" for c in everywhere} == {"notes/n2"}


def test_a_push_result_leaves_out_a_record_the_token_may_not_read(rs: RoleServer):
    world = World(rs).populate()
    s = world.space
    # an editor may update team and notes records, but reads neither team nor alice's notes
    editor = rs.token(fresh("ed"), {s: "rw"}, ["editor"])
    stale = rs.push(editor, fresh("c"), [patch(1, s, "team", "t1", {"x": 1}, 0),
                                         patch(2, s, "notes", "n1", {"x": 1}, 0)])
    assert [r["status"] for r in stale] == ["conflict", "conflict"], stale
    assert all("record" not in r for r in stale), stale
    member = rs.push(world.token("alice", "rw", ALL_ROLES), fresh("c"),
                     [patch(1, s, "team", "t1", {"x": 2}, 0)])
    assert member[0]["record"]["id"] == "t1", member  # a reader of team gets it


def test_a_batch_nothing_of_which_is_held_back_shares_the_unrestricted_frame(rs: RoleServer):
    """The live fan-out encodes a batch's frame once per filter: a reader whose roles hide
    nothing of the batch is sent that same frame; one they hide part of, its own."""
    world = World(rs).populate()
    s = world.space

    def encoded() -> float:
        text = httpx.get(f"{rs.url}/metrics", timeout=30).text
        return metric_value(text, "syncserver_ws_live_frames_encoded_total")

    batches = [  # (the batch, what bob is sent of it, what a reader of everything is)
        ([put(20, s, "open", "o9")], {"open/o9"}, {"open/o9"}),
        ([put(21, s, "mine", "a9"), put(22, s, "open", "o10")], {"open/o10"},
         {"mine/a9", "open/o10"}),
    ]

    async def scenario() -> list[float]:
        async with connect(rs.server.ws_url) as bob, connect(rs.server.ws_url) as every:
            for ws, name in ((bob, "bob"), (every, "all")):
                await hello(ws, world.token(name))
                await send(ws, {"type": "subscribe", "space": s, "cursor": ""})
                while (await recv(ws))["type"] != "synced":
                    pass
            deltas = []
            for batch, for_bob, for_all in batches:
                before = await asyncio.to_thread(encoded)
                await asyncio.to_thread(world.push, "alice", *batch)
                for ws, expect in ((bob, for_bob), (every, for_all)):
                    frame = await recv(ws)
                    assert frame["live"] and names(frame["changes"]) == expect, frame
                deltas.append(await asyncio.to_thread(encoded) - before)
            return deltas

    shared, apart = asyncio.run(scenario())
    assert shared == 1  # one frame, sent to both
    assert apart == 2  # bob's own (without alice's `mine` record) and the common one
