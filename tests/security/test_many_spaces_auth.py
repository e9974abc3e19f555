"""GET /v1/spaces and POST /v1/pull with auth on (docs/protocol.md): the spaces a token
grants, resolved, with their modes and heads; a pull answers every space the token reads and
an error entry for each it does not (one revoked space never blocks the others); both need a
token and cost one of the user's rate, however many spaces a pull names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.core.support import pull
from tests.helpers import mutation, stamped_by
from tests.server import ServerProcess

from . import keys
from .conftest import bearer, client
from .support import problem, stored_state


def _write(http: httpx.Client, client_id: str, *mutations: dict) -> None:
    r = http.post("/v1/push", json={"client_id": client_id, "protocol": 2,
                                    "mutations": stamped_by(client_id, list(mutations))})
    assert r.status_code == 200 and all(x["status"] == "applied" for x in r.json()["results"])


def test_spaces_lists_the_token_s_grants_resolved_by_name_with_heads(secured, token, user,
                                                                     space):
    grants = {f"{space}-team": "r", "user-{sub}": "rw", f"{space}-board": "rw",
              "a b": "rw", f"{space}-odd": "w"}  # a bad name and a bad right grant nothing
    writer = token(user + "w", {f"{space}-team": "rw"})
    with client(secured, writer) as http:
        _write(http, f"c-{user}w", mutation(1, "x", space=f"{space}-team"),
               mutation(2, "y", space=f"{space}-team"))
    with client(secured, token(user, grants)) as http:
        body = http.get("/v1/spaces").json()
    assert body == {"sub": user, "truncated": False, "spaces": [
        {"space": f"{space}-board", "mode": "rw", "head": 0},
        {"space": f"{space}-team", "mode": "r", "head": 2},
        {"space": f"user-{user}", "mode": "rw", "head": 0}]}


def test_spaces_follows_the_token_a_new_token_lists_its_new_grants(secured, token, user, space):
    with client(secured, token(user, {space: "r"})) as http:
        assert [s["space"] for s in http.get("/v1/spaces").json()["spaces"]] == [space]
    with client(secured, token(user, {space + "-2": "rw"})) as http:
        assert http.get("/v1/spaces").json()["spaces"] == [
            {"space": space + "-2", "mode": "rw", "head": 0}]


def test_spaces_and_pull_need_a_valid_token(secured, user, space):
    expired = keys.hs(keys.claims(user, {space: "rw"}, ttl=-60))
    for headers in ({}, bearer(expired), bearer("not.a.token")):
        with httpx.Client(base_url=secured.url, headers=headers, timeout=30) as http:
            problem(http.get("/v1/spaces"), 401, "unauthorized")
            problem(http.post("/v1/pull", json={"cursors": {space: ""}}), 401, "unauthorized")


def test_a_pull_answers_the_readable_spaces_and_forbidden_for_the_others(secured, token, user,
                                                                         space):
    mine, shared, revoked = f"{space}-mine", f"{space}-shared", f"{space}-gone"
    owner = token(user + "o", {mine: "rw", shared: "rw", revoked: "rw"})
    with client(secured, owner) as http:
        _write(http, f"c-{user}o", mutation(1, "a", space=mine, data={"pin": 4321}),
               mutation(2, "b", space=shared), mutation(3, "c", space=revoked,
                                                        data={"pin": 9876}))
        revoked_cursor = pull(http, revoked)["cursor"]
    # The revoked space first: its failure must not stop the spaces after it.
    now = token(user, {mine: "rw", shared: "r"})
    with client(secured, now) as http:
        r = http.post("/v1/pull", json={"cursors": {revoked: revoked_cursor, mine: "",
                                                    shared: None}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body["spaces"]) == [revoked, mine, shared]
    assert body["spaces"][revoked] == {"error": {
        "code": "forbidden", "detail": f"this token may not read space {revoked!r}"}}
    assert "9876" not in r.text, "nothing of a space the token cannot read"
    assert [ch["id"] for ch in body["spaces"][mine]["changes"]] == ["a"]
    assert [ch["id"] for ch in body["spaces"][shared]["changes"]] == ["b"]
    assert body["more"] is False


RATE, BURST = 0.2, 3  # a token every 5 s, 3 at once


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("rated") / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
        "SYNCSERVER_JWT_ISSUER": keys.ISSUER, "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE,
        "SYNCSERVER_RATE_LIMIT": str(RATE), "SYNCSERVER_RATE_BURST": str(BURST)}).start()
    yield server
    server.stop()


@pytest.mark.parametrize("request_of", [
    lambda http, spaces: http.get("/v1/spaces"),
    lambda http, spaces: http.post("/v1/pull", json={"cursors": dict.fromkeys(spaces, "")}),
], ids=["spaces", "pull"])
def test_each_request_costs_one_token_however_many_spaces(rated, user, request_of):
    spaces = [f"s{i}" for i in range(40)]
    tok = keys.hs(keys.claims(user, dict.fromkeys(spaces, "rw")))
    before = stored_state(rated.db)
    with httpx.Client(base_url=rated.url, headers=bearer(tok), timeout=30) as http:
        assert [request_of(http, spaces).status_code for _ in range(BURST)] == [200] * BURST
        refused = request_of(http, spaces)
        body = problem(refused, 429, "rate_limited")
        assert body["retry_after"] == int(refused.headers["retry-after"]) >= 1
    assert stored_state(rated.db) == before
