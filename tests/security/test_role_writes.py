"""Writes under declared role lists (issue 23), through a real server on SQLite and on
PostgreSQL: every cell of the role matrix (roles x create/update/delete x the record's owner
or another's x the space granted r or rw) checked in the push result and in the stored
data; a refused mutation is not stored, and the same mid is applied once the user has the
role; a record's owner is its creator, and a tombstone re-created takes its new creator."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.pg import BACKENDS, backend_database
from tests.server import REPO, ServerProcess, free_port

from .roles_support import (
    ALL_ROLES,
    COLLECTIONS,
    RoleServer,
    delete,
    fresh,
    patch,
    put,
    query,
    role_server,
)

# team: create needs member; update editor or owner; delete admin or owner.
RULES = {"create": {"member"}, "update": {"editor", "owner"}, "delete": {"admin", "owner"}}
CASES = ["create new", "create on own tombstone", "create on another's tombstone",
         "update own", "update another's", "delete own", "delete another's"]


@pytest.fixture(scope="module", params=BACKENDS)
def rs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with role_server(request.param, tmp_path_factory.mktemp(f"roles-{request.param}")) as s:
        yield s


def _setup(rs: RoleServer, space: str, case: str, user: str) -> tuple[str, int]:
    """The record the case starts from, written by its owner with every role: its id and
    version (0: none)."""
    record_id = fresh("r")
    if case == "create new":
        return record_id, 0
    owner = user if "own " in case or case.endswith("own") else "other-" + user
    full = rs.token(owner, {space: "rw"}, ALL_ROLES)
    client = fresh("setup")
    assert rs.push(full, client, [put(1, space, "team", record_id)])[0]["status"] == "applied"
    if "tombstone" in case:
        done = rs.push(full, client, [delete(2, space, "team", record_id, 1)])
        assert done[0]["status"] == "applied", done
        return record_id, 2
    return record_id, 1


def _mutation(case: str, space: str, record_id: str, version: int) -> dict:
    if case.startswith("create"):
        return put(1, space, "team", record_id, {"title": "made"}, version)
    if case.startswith("update"):
        return patch(1, space, "team", record_id, {"title": "changed"}, version)
    return delete(1, space, "team", record_id, version)


@pytest.mark.parametrize(("roles", "right", "case"), list(itertools.product(
    [[], ["member"], ["editor"], ["admin"]], ["r", "rw"], CASES)))
def test_the_role_matrix_of_writes(rs: RoleServer, roles: list[str], right: str, case: str):
    space, user, client = fresh(), fresh("u"), fresh("c")
    record_id, version = _setup(rs, space, case, user)
    before = rs.record(space, "team", record_id)
    operation = case.split()[0]
    own = "own " in case or case.endswith("own")
    allowed = right == "rw" and (bool(RULES[operation] & set(roles)) or (
        own and "owner" in RULES[operation] and operation != "create"))

    token = rs.token(user, {space: right}, roles)
    mutation = _mutation(case, space, record_id, version)
    [result] = rs.push(token, client, [mutation])
    after = rs.record(space, "team", record_id)
    if allowed:
        assert result["status"] == "applied", result
        assert rs.stored_mids(client) == [1]
        assert after is not None
        if operation == "create":
            assert after["owner"] == user and not after["deleted"]  # its creator, now
            assert after["version"] == version + 1 and after["data"] == {"title": "made"}
        elif operation == "update":
            assert after["data"] == {"title": "changed"} and after["version"] == 2
            assert after["owner"] == before["owner"]  # an update keeps the owner
        else:
            assert after["deleted"] and after["owner"] == before["owner"]
        return

    assert result["status"] == "rejected" and result["code"] == "forbidden", result
    if right == "rw":  # the roles refused it: they are named, with the operation
        assert result["collection"] == "team" and result["operation"] == operation
        assert set(result["roles"]) == RULES[operation], result
        assert f"may not {operation} records of collection 'team'" in result["message"]
        for role in RULES[operation]:
            assert f'"{role}"' in result["message"]
    assert after == before  # nothing stored: the record as it was ...
    assert rs.stored_mids(client) == []  # ... and no result for the mid
    # The same mid, once the user has the role (and the space), is applied.
    granted = rs.token(user, {space: "rw"}, ALL_ROLES)
    [again] = rs.push(granted, client, [mutation])  # the same mutation, verbatim
    assert again["status"] == "applied" and "duplicate" not in again, again
    assert rs.stored_mids(client) == [1]


def test_roles_by_space_count_in_their_space_only(rs: RoleServer):
    mine, theirs, user = fresh(), fresh(), fresh("u")
    token = rs.token(user, {mine: "rw", theirs: "rw"}, {mine: ["member"]})
    results = rs.push(token, fresh("c"), [put(1, mine, "team", "a"), put(2, theirs, "team", "a")])
    assert [r["status"] for r in results] == ["applied", "rejected"], results
    assert rs.record(theirs, "team", "a") is None


def test_a_patch_that_would_create_a_record_needs_the_create_role(rs: RoleServer):
    space, user = fresh(), fresh("u")
    editor = rs.token(user, {space: "rw"}, ["editor"])
    [result] = rs.push(editor, fresh("c"), [patch(1, space, "team", "new", {"t": 1}, 0)])
    assert result["code"] == "forbidden" and result["operation"] == "create", result
    assert rs.record(space, "team", "new") is None


def test_an_owner_only_collection_lets_no_role_write_another_users_records(rs: RoleServer):
    space, alice, bob = fresh(), fresh("alice"), fresh("bob")
    a = rs.token(alice, {space: "rw"})  # `mine` creates with "*": anyone the space grants
    assert rs.push(a, fresh("c"), [put(1, space, "mine", "n1")])[0]["status"] == "applied"
    b = rs.token(bob, {space: "rw"}, ALL_ROLES)  # every role, but not its owner
    results = rs.push(b, fresh("c"), [patch(1, space, "mine", "n1", {"x": 1}, 1),
                                      delete(2, space, "mine", "n1", 1)])
    assert [(r["code"], r["operation"]) for r in results] == [("forbidden", "update"),
                                                              ("forbidden", "delete")]
    assert rs.record(space, "mine", "n1") == {"version": 1, "deleted": False, "owner": alice,
                                              "data": {"title": "n1"}}
    mine = rs.push(a, fresh("c"), [patch(1, space, "mine", "n1", {"x": 1}, 1)])
    assert mine[0]["status"] == "applied"


def test_collections_without_role_lists_are_written_as_before(rs: RoleServer):
    space, user = fresh(), fresh("u")
    token = rs.token(user, {space: "rw"})  # no roles at all
    results = rs.push(token, fresh("c"), [put(1, space, "open", "a"), put(2, space, "plain", "b")])
    assert [r["status"] for r in results] == ["applied", "applied"], results
    assert rs.record(space, "open", "a")["owner"] == user
    assert rs.record(space, "plain", "b")["owner"] == user


def test_the_change_on_the_feed_does_not_say_who_owns_the_record(rs: RoleServer):
    space, user = fresh(), fresh("u")
    token = rs.token(user, {space: "rw"})
    rs.push(token, fresh("c"), [put(1, space, "open", "a")])
    [change] = rs.feed(token, space)
    assert "owner" not in change and user not in str(change)


def test_resolving_a_conflict_needs_the_role_of_its_write(rs: RoleServer):
    """`notes`: manual conflicts, read by owners and auditors, updated by owners and
    editors. An auditor reads the conflict but may not resolve it with a write; an editor
    who may not read it does not find it; the owner resolves it."""
    space, alice = fresh(), fresh("alice")
    a = rs.token(alice, {space: "rw"})
    rs.push(a, fresh("c"), [put(1, space, "notes", "n1")])
    [open_] = rs.push(a, fresh("c"), [patch(1, space, "notes", "n1", {"title": "x"}, 0)])
    assert open_["status"] == "conflict", open_
    conflict = open_["conflict_id"]

    def resolve(token: str) -> httpx.Response:
        return httpx.post(f"{rs.url}/v1/conflicts/{conflict}/resolve", timeout=30,
                          json={"data": {"title": "settled"}},
                          headers={"Authorization": f"Bearer {token}"})

    auditor = resolve(rs.token(fresh("aud"), {space: "rw"}, ["auditor"]))
    assert auditor.status_code == 403, auditor.text
    assert auditor.json()["collection"] == "notes" and auditor.json()["operation"] == "update"
    editor = resolve(rs.token(fresh("ed"), {space: "rw"}, ["editor"]))
    assert editor.status_code == 404 and editor.json()["code"] == "conflict_not_found"
    assert rs.record(space, "notes", "n1")["version"] == 1  # neither wrote anything
    owner = resolve(a)
    assert owner.status_code == 200, owner.text
    assert rs.record(space, "notes", "n1")["data"] == {"title": "settled"}
    assert rs.record(space, "notes", "n1")["owner"] == alice


# -- owners without auth, and a file with roles without auth ----------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_records_have_no_owner_with_auth_off(backend: str, tmp_path: Path):
    with backend_database(backend, tmp_path) as db:
        server = ServerProcess(db, log=tmp_path / "server.log").start()  # --auth none
        try:
            body = {"client_id": "c1", "mutations": [{**put(1, "s", "todos", "a"),
                                                      "hlc": "0000000001000:00000:c1"}]}
            answer = httpx.post(f"{server.url}/v1/push", json=body, timeout=30)
            assert answer.json()["results"][0]["status"] == "applied", answer.text
        finally:
            server.stop()
        assert query(db, "SELECT owner FROM records") == [(None,)]


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSERVER_")}
    return subprocess.run([sys.executable, "-m", "syncserver", "serve", "--db",
                           str(tmp_path / "s.db"), "--no-demo", "--port", str(free_port()),
                           *args], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=env, check=False)


def test_serve_refuses_role_lists_it_cannot_check_with_auth_off(tmp_path: Path):
    declared = tmp_path / "collections.toml"
    declared.write_text(COLLECTIONS)
    done = _serve(tmp_path, "--auth", "none", "--collections", str(declared))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    for says in (str(declared), "roles", "--auth none", "--jwt-secret", "--dev", '["*"]'):
        assert says in done.stderr, done.stderr
    assert not (tmp_path / "s.db").exists() or (tmp_path / "s.db").stat().st_size == 0


def test_auth_off_serves_a_file_whose_role_lists_are_all_anyone(tmp_path: Path):
    declared = tmp_path / "collections.toml"
    declared.write_text('[collections.todos]\nread = ["*"]\n')
    server = ServerProcess(tmp_path / "s.db", args=("--collections", str(declared))).start()
    server.stop()  # started: --auth none, nothing to check
