"""Per-user limits over real sockets (docs/security.md, "Rate limits"): a token bucket per
token `sub` answers 429 rate_limited with Retry-After on every endpoint that costs a token
(an `error` frame on the WebSocket, which stays open), stores nothing for a refused request,
and refills; a user's WebSockets and waiting long-polls are capped, other users unaffected.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from syncserver.guard.ratelimit import RateLimiter
from syncserver.model.errors import ErrorCode, SyncError
from tests.core.cli_support import assert_one_line_failure, run_syncserver
from tests.helpers import metric_value, mutation, stamped_by, wait_for_async
from tests.server import ServerProcess, free_port

from . import keys
from .conftest import bearer
from .support import problem, stored_state
from .test_ws_auth import closed_with, hello, recv, send

RATE, BURST, PER_USER = 0.5, 3, 2  # a token every 2 s, 3 at once, 2 connections


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("limited") / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
        "SYNCSERVER_JWT_ISSUER": keys.ISSUER, "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE,
        "SYNCSERVER_RATE_LIMIT": str(RATE), "SYNCSERVER_RATE_BURST": str(BURST),
        "SYNCSERVER_MAX_USER_CONNECTIONS": str(PER_USER), "SYNCSERVER_MAX_WAIT": "30",
        "SYNCSERVER_POLICIES": "notes=manual"}).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while User.opened:
        User.opened.pop().close()


class User:
    """A fresh user (its own bucket) with read-write access to a fresh space."""

    opened: ClassVar[list[httpx.Client]] = []  # every user's clients, closed after each test

    def __init__(self, server: ServerProcess, space: str | None = None) -> None:
        self.sub = "u" + uuid.uuid4().hex[:10]
        self.space = space or "sp-" + uuid.uuid4().hex[:10]
        self.token = keys.hs(keys.claims(self.sub, {self.space: "rw"}))
        self.http = httpx.Client(base_url=server.url, headers=bearer(self.token), timeout=30)
        User.opened.append(self.http)
        self.client_id = f"c-{self.sub}"
        self.mid = 0

    def push(self, record_id: str, collection: str = "todos", base: int = 0
             ) -> httpx.Response:
        self.mid += 1
        m = mutation(self.mid, record_id, space=self.space, collection=collection, base=base)
        return self.http.post("/v1/push", json={
            "client_id": self.client_id, "protocol": 2,
            "mutations": stamped_by(self.client_id, [m])})

    def changes(self, wait: float = 0) -> httpx.Response:
        return self.http.get("/v1/changes", params={"space": self.space, "since": "",
                                                    "wait": wait})

    def spend(self, n: int = BURST) -> None:
        """Take `n` tokens of the bucket with cheap requests that store nothing."""
        for _ in range(n):
            assert self.http.get("/v1/conflicts").status_code == 200


def limited_answer(response: httpx.Response) -> int:
    """A 429 rate_limited problem with Retry-After (whole seconds) equal to retry_after."""
    body = problem(response, 429, "rate_limited")
    seconds = int(response.headers["retry-after"])
    assert body["retry_after"] == seconds and 1 <= seconds <= 1 / RATE
    assert "SYNCSERVER_RATE_LIMIT" in body["detail"]
    return seconds


def test_a_burst_passes_then_429_with_retry_after_and_a_token_comes_back_after_it(limited):
    user = User(limited)
    start = time.monotonic()
    assert [user.push(f"r{i}").status_code for i in range(BURST)] == [200] * BURST
    assert time.monotonic() - start < 1 / RATE, "the machine is too slow for this bucket"
    seconds = limited_answer(user.push("over"))
    time.sleep(seconds)  # time itself: the Retry-After the answer promised
    assert user.push("after").status_code == 200  # one token refilled...
    limited_answer(user.push("over-again"))  # ...and only one
    time.sleep(BURST / RATE)  # time itself: the whole bucket refills
    assert [user.push(f"b{i}").status_code for i in range(BURST)] == [200] * BURST


async def _gauge(server: ServerProcess, name: str) -> float:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        return metric_value((await c.get("/metrics")).text, name)


async def _until_gauge(server: ServerProcess, name: str, value: float) -> None:
    async def reads() -> bool:
        return await _gauge(server, name) == value
    await wait_for_async(reads, what=f"{name} at {value:g}")


def _refusals(server: ServerProcess, code: str) -> float:
    metrics = httpx.get(server.url + "/metrics", timeout=30).text
    line = f'syncserver_limited_total{{code="{code}"}} '
    return sum(float(x[len(line):]) for x in metrics.splitlines() if x.startswith(line))


def test_each_user_has_a_bucket_of_its_own_and_refusals_are_counted(limited):
    spender, other = User(limited), User(limited)
    before = _refusals(limited, "rate_limited")
    spender.spend()
    limited_answer(spender.changes())
    assert other.changes().status_code == 200
    assert _refusals(limited, "rate_limited") == before + 1


def test_the_bucket_table_stays_bounded_with_many_users():
    slow = RateLimiter(rate=1, burst=2, max_users=100)  # every entry stays mid-refill
    for i in range(1000):
        slow.take(f"u{i}")
        assert len(slow.full_at) <= 100
    # with room in the table, a user mid-limit stays limited
    slow.take("hot")
    slow.take("hot")
    with pytest.raises(SyncError) as refused:
        slow.take("hot")
    assert refused.value.code == ErrorCode.RATE_LIMITED and refused.value.extra["retry_after"] == 1
    fast = RateLimiter(rate=1e9, burst=1, max_users=100)  # refilled at once: dropped first
    for i in range(1000):
        fast.take(f"u{i}")
    assert len(fast.full_at) <= 100


def test_a_refused_push_stores_nothing(limited):
    user = User(limited)
    user.spend()
    before = stored_state(limited.db)
    limited_answer(user.push("never"))
    assert stored_state(limited.db) == before
    pulled = User(limited, user.space).changes()  # another user of the space: it is empty
    assert pulled.status_code == 200 and pulled.json()["changes"] == []


def test_changes_long_polls_and_conflict_requests_cost_a_token_and_answer_429(limited):
    writer, other = User(limited), User(limited)
    assert writer.push("n1", "notes").status_code == 200
    # a manual conflict to resolve: another user's write on a base it had not seen
    rival = User(limited, writer.space)
    answer = rival.push("n1", "notes").json()
    assert answer["results"][0]["status"] == "conflict", answer
    conflict_id = writer.http.get("/v1/conflicts", params={"status": "open"}
                                  ).json()["conflicts"][0]["id"]
    before = stored_state(limited.db)
    other.spend()
    limited_answer(other.changes())
    limited_answer(other.changes(wait=5))  # refused at once, not held
    limited_answer(other.http.get("/v1/conflicts"))
    limited_answer(other.http.post(f"/v1/conflicts/{conflict_id}/resolve",
                                   json={"accept": "client"}))
    assert stored_state(limited.db) == before  # the conflict is still open


def test_requests_without_a_valid_token_spend_nobody_s_tokens(limited):
    user = User(limited)
    for _ in range(BURST + 2):
        assert httpx.get(limited.url + "/v1/conflicts").status_code == 401
    assert user.changes().status_code == 200


async def _socket(server: ServerProcess, user: User) -> ClientConnection:
    ws = await connect(server.ws_url)
    await hello(ws, user.token)  # hello costs nothing
    return ws


def test_websocket_push_and_subscribe_get_a_rate_limited_error_frame_and_stay_open(limited):
    user = User(limited)
    before = stored_state(limited.db)

    async def scenario() -> None:
        async with await _socket(limited, user) as ws:
            user.spend()
            m = stamped_by(user.client_id, [mutation(1, "ws", space=user.space)])
            await send(ws, {"type": "push", "request_id": "p1", "client_id": user.client_id,
                            "protocol": 2, "mutations": m})
            refused = await recv(ws)
            assert refused["type"] == "error" and refused["code"] == "rate_limited"
            assert refused["request_id"] == "p1" and 1 <= refused["retry_after"] <= 2
            await send(ws, {"type": "subscribe", "space": user.space, "cursor": ""})
            refused = await recv(ws)
            assert refused["code"] == "rate_limited" and refused["space"] == user.space
            await send(ws, {"type": "ping"})  # the socket stays open, pings are free
            assert (await recv(ws))["type"] == "pong"
            assert stored_state(limited.db) == before
            await asyncio.sleep(refused["retry_after"])  # time itself: the promised wait
            await send(ws, {"type": "push", "request_id": "p2", "client_id": user.client_id,
                            "protocol": 2, "mutations": m})
            answer = await recv(ws)
            assert answer["type"] == "push_result" and answer["request_id"] == "p2", answer

    asyncio.run(scenario())


def test_a_user_s_connections_are_capped_and_other_users_are_not_affected(limited):
    user, other = User(limited), User(limited)
    before = stored_state(limited.db)

    async def scenario() -> None:
        first, second = await _socket(limited, user), await _socket(limited, user)
        async with connect(limited.ws_url) as third:
            await send(third, {"type": "hello", "token": user.token})
            frames = await closed_with(third, 4429)
            assert [f["code"] for f in frames] == ["too_many_connections"]
            assert frames[0]["retry_after"] >= 1
        # a long-poll counts too: refused at once with 429 and Retry-After
        polled = await asyncio.to_thread(user.changes, 5)
        body = problem(polled, 429, "too_many_connections")
        assert int(polled.headers["retry-after"]) == body["retry_after"]
        # another user opens sockets and long-polls as usual
        async with await _socket(limited, other), await _socket(limited, other):
            started = time.monotonic()
            assert (await asyncio.to_thread(other.changes, 0.5)).status_code == 429
            assert time.monotonic() - started < 5
        assert (await asyncio.to_thread(other.changes, 0.5)).status_code == 200
        # a closed socket frees its place; a waiting long-poll holds one
        sockets = await _gauge(limited, "syncserver_ws_connections")
        await second.close()
        await _until_gauge(limited, "syncserver_ws_connections", sockets - 1)
        polls = await _gauge(limited, "syncserver_long_polls_waiting")
        poll = asyncio.create_task(asyncio.to_thread(user.changes, 5))
        await _until_gauge(limited, "syncserver_long_polls_waiting", polls + 1)
        async with connect(limited.ws_url) as third:
            await send(third, {"type": "hello", "token": user.token})
            assert [f["code"] for f in await closed_with(third, 4429)] == \
                ["too_many_connections"]
        assert (await poll).status_code == 200
        await first.close()

    asyncio.run(scenario())
    assert stored_state(limited.db) == before


def test_a_subprotocol_token_over_the_user_s_cap_is_closed_4429(limited):
    user = User(limited)

    async def scenario() -> None:
        held = [await _socket(limited, user) for _ in range(PER_USER)]
        async with connect(limited.ws_url,
                           subprotocols=["syncserver.v2", f"bearer.{user.token}"]) as ws:
            frames = await closed_with(ws, 4429)
            assert [f["code"] for f in frames] == ["too_many_connections"]
        for ws in held:
            await ws.close()

    asyncio.run(scenario())


def test_with_auth_none_there_is_no_per_user_limit(tmp_path: Path):
    server = ServerProcess(tmp_path / "open.db", env={
        "SYNCSERVER_AUTH": "none", "SYNCSERVER_RATE_LIMIT": "0.01",
        "SYNCSERVER_RATE_BURST": "1"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for i in range(5):
                m = stamped_by("c-open", [mutation(i + 1, f"r{i}")])
                assert http.post("/v1/push", json={"client_id": "c-open",
                                                   "mutations": m}).status_code == 200
    finally:
        server.stop()


def test_a_rate_limit_of_zero_turns_the_bucket_off(tmp_path: Path):
    server = ServerProcess(tmp_path / "off.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
        "SYNCSERVER_RATE_LIMIT": "0", "SYNCSERVER_RATE_BURST": "1"}).start()
    try:
        token = keys.hs(keys.claims("zed", {"s1": "rw"}, iss=None, aud=None))
        with httpx.Client(base_url=server.url, headers=bearer(token), timeout=30) as http:
            assert all(http.get("/v1/conflicts").status_code == 200 for _ in range(6))
    finally:
        server.stop()


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--rate-limit", "-1"], {}, "--rate-limit"),
    (["--rate-limit", "lots"], {}, "--rate-limit"),
    (["--rate-burst", "0"], {}, "--rate-burst"),
    ([], {"SYNCSERVER_RATE_BURST": "1.5"}, "SYNCSERVER_RATE_BURST"),
    (["--max-user-connections", "0"], {}, "--max-user-connections"),
    ([], {"SYNCSERVER_MAX_USER_CONNECTIONS": "many"}, "SYNCSERVER_MAX_USER_CONNECTIONS"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else
    " ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v)
def test_a_bad_limit_setting_stops_the_server_with_one_line(args, env, named, tmp_path: Path):
    db = tmp_path / "never.db"
    done = run_syncserver(["serve", "--db", str(db), "--no-demo", "--port", str(free_port()),
                           *args], env=env, timeout=20)
    message = assert_one_line_failure(done, named, status=2)
    assert "expected a" in message
    assert not db.exists()
