"""The `roles` claim (issue 23): a list (the roles in every space the token grants) or an
object by space, pattern with {sub}, or "*"; what is malformed gives nothing and refuses
nothing; resolved once into `Access.roles_in`. Dev mode's token endpoint and `syncserver
token --role` put it in the tokens they make."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import jwt
import pytest

from syncserver.guard.permissions import MAX_GRANTS, MAX_ROLES, access_of
from tests.server import REPO

from . import keys


def _access(roles: object, spaces: dict[str, str] | None = None, sub: str = "alice"):
    return access_of({"sub": sub, "exp": time.time() + 60,
                      "spaces": spaces or {"team-1": "rw", "team-2": "r", "user-alice": "rw"},
                      "roles": roles})


def test_a_list_of_roles_holds_in_every_space_the_token_grants_and_nowhere_else():
    access = _access(["member", "editor"])
    for space in ("team-1", "team-2", "user-alice"):
        assert access.roles_in(space) == {"member", "editor"}
    assert access.roles_in("team-3") == frozenset()  # not granted: no roles there


def test_roles_by_space_add_to_the_roles_of_every_space():
    access = _access({"team-1": ["editor"], "user-{sub}": ["admin"], "*": ["member"],
                      "team-3": ["admin"]})
    assert access.roles_in("team-1") == {"editor", "member"}
    assert access.roles_in("user-alice") == {"admin", "member"}
    assert access.roles_in("team-2") == {"member"}
    assert access.roles_in("team-3") == frozenset()  # named, but the token grants no team-3


def test_a_pattern_names_the_users_own_space_only():
    bob = _access({"user-{sub}": ["admin"]}, {"user-alice": "rw", "user-bob": "rw"}, "bob")
    assert bob.roles_in("user-bob") == {"admin"}
    assert bob.roles_in("user-alice") == frozenset()
    odd = _access({"user-{sub}": ["admin"]}, {"user-x": "rw"}, "x/../y")  # no space name
    assert odd.roles_in("user-x") == frozenset()


@pytest.mark.parametrize("claim", [
    "member", 7, None, {"team-1": "editor"}, {"team-1": [1, None, ""]}, {"bad space!": ["x"]},
    {"team-{user}": ["x"]}, ["*"], ["owner"], {"*": ["owner", "*"]}, ["x" * 129],
])
def test_malformed_roles_give_nothing_and_refuse_nothing(claim):
    access = _access(claim)
    assert access.roles_in("team-1") == frozenset()
    assert access.can_write("team-1")  # the token itself still works


def test_owner_and_star_are_never_a_tokens_roles_but_the_others_of_the_list_are():
    """A token claiming "owner" would own every record of an owner-only collection."""
    access = _access({"team-1": ["owner", "editor", "*", 5]})
    assert access.roles_in("team-1") == {"editor"}


def test_the_claim_is_read_within_bounds():
    many = {f"s{i}": ["r"] for i in range(MAX_GRANTS + 50)}
    access = _access(many, {f"s{i}": "r" for i in range(MAX_GRANTS + 50)})
    assert sum(1 for i in range(MAX_GRANTS + 50) if access.roles_in(f"s{i}")) == MAX_GRANTS
    long = _access([f"r{i}" for i in range(MAX_ROLES + 20)])
    assert len(long.roles_in("team-1")) == MAX_ROLES


# -- tokens with roles: dev mode's endpoint, `syncserver token` -------------------------

@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    from tests.server import ServerProcess

    server = ServerProcess(tmp_path_factory.mktemp("dev") / "sync.db", args=("--dev",)).start()
    yield server
    server.stop()


def _dev_claims(server, body: dict) -> tuple[httpx.Response, dict]:
    answer = httpx.post(f"{server.url}/v1/dev/token", json=body, timeout=30)
    if answer.status_code != 200:
        return answer, {}
    return answer, jwt.decode(answer.json()["token"], options={"verify_signature": False})


def test_the_dev_token_endpoint_puts_the_roles_asked_for_in_the_token(dev_server):
    answer, claims = _dev_claims(dev_server, {"sub": "alice", "spaces": ["team-1"],
                                              "roles": {"team-1": ["editor"], "*": ["member"]}})
    assert answer.status_code == 200, answer.text
    assert claims["roles"] == {"team-1": ["editor"], "*": ["member"]}
    assert answer.json()["roles"] == claims["roles"]
    access = access_of(claims)
    assert access.roles_in("team-1") == {"editor", "member"}
    assert access.roles_in("user-alice") == {"member"}

    answer, claims = _dev_claims(dev_server, {"sub": "bob", "roles": ["member", "member"]})
    assert claims["roles"] == {"*": ["member"]}
    answer, claims = _dev_claims(dev_server, {"sub": "carol"})
    assert "roles" not in claims and answer.json()["roles"] == {}


@pytest.mark.parametrize("roles", ["member", {"team-1": "editor"}, ["owner"], ["*"], [""],
                                   {"bad space!": ["x"]}, [1], ["x" * 200]])
def test_the_dev_token_endpoint_refuses_malformed_roles_naming_the_field(dev_server, roles):
    answer, _ = _dev_claims(dev_server, {"sub": "alice", "roles": roles})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "invalid_request" and body["field"] == "roles"
    assert "owner" in body["detail"]  # says what a role name may be


def _token_command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNCSERVER_JWT_SECRET": keys.SECRET}
    return subprocess.run([sys.executable, "-m", "syncserver", "token", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
                          check=False)


def test_the_token_command_mints_roles_in_every_space_or_in_one():
    done = _token_command("--sub", "alice", "--space", "team-1:rw", "--role", "member",
                          "--role", "team-1:editor", "--role", "user-{sub}:admin")
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), keys.SECRET, algorithms=["HS256"])
    assert claims["roles"] == {"*": ["member"], "team-1": ["editor"], "user-{sub}": ["admin"]}
    assert access_of(claims).roles_in("team-1") == {"member", "editor"}
    plain = _token_command("--sub", "alice", "--space", "team-1:rw")
    assert "roles" not in jwt.decode(plain.stdout.strip(), keys.SECRET, algorithms=["HS256"])


@pytest.mark.parametrize("role", ["owner", "team-1:*", "bad space!:x", "team-1:"])
def test_the_token_command_refuses_a_role_it_cannot_mint(role):
    done = _token_command("--sub", "alice", "--role", role)
    assert done.returncode == 2 and done.stdout == ""
    assert "ROLE or SPACE:ROLE" in done.stderr
