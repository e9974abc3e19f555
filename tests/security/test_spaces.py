"""Spaces and permissions over HTTP: each user reads and writes only what its token grants;
a forbidden mutation is rejected alone and is not stored, so its mid can succeed later."""

from __future__ import annotations

import httpx

from tests.core.support import stored_mutations, stored_records
from tests.helpers import mutation, stamped_by

from . import keys
from .conftest import bearer, client
from .support import problem, stored_state


def _push(secured, token: str, client_id: str, mutations: list[dict]) -> httpx.Response:
    batch = {"client_id": client_id, "protocol": 2,
             "mutations": stamped_by(client_id, mutations)}
    return httpx.post(f"{secured.url}/v1/push", json=batch, headers=bearer(token), timeout=30)


def _statuses(response: httpx.Response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["status"], r.get("code")) for r in response.json()["results"]]


def test_reading_another_users_space_is_forbidden(secured, token, user, space):
    alice, bob = token(user, {space: "rw"}), token(user + "b", {space + "-b": "rw"})
    assert _statuses(_push(secured, alice, f"c-{user}", [
        mutation(1, "secret", space=space, data={"pin": 1234})])) == [("applied", None)]
    with client(secured, bob) as http:
        for params in ({"space": space}, {"space": space, "wait": "1"},
                       {"space": space, "since": ""}):
            r = http.get("/v1/changes", params=params)
            body = problem(r, 403, "forbidden")
            assert body["space"] == space
            assert "1234" not in r.text and "secret" not in r.text


def test_writing_another_users_space_rejects_only_those_mutations(secured, token, user, space):
    alice_space, bob_space = space, space + "-b"
    alice = token(user, {alice_space: "rw"})
    bob = token(user + "b", {bob_space: "rw"})
    _push(secured, alice, f"c-{user}", [mutation(1, "doc", space=alice_space)])
    before = stored_records(secured.server.db, alice_space)
    bob_client = f"c-{user}b"
    answer = _push(secured, bob, bob_client, [
        mutation(1, "mine", space=bob_space),
        mutation(2, "doc", space=alice_space, data={"title": "defaced"}),
        mutation(3, "new", space=alice_space),
        mutation(4, "mine2", space=bob_space)])
    assert _statuses(answer) == [("applied", None), ("rejected", "forbidden"),
                                 ("rejected", "forbidden"), ("applied", None)]
    assert stored_records(secured.server.db, alice_space) == before
    # The forbidden mutations' results are not kept: their mids stay free.
    assert [m for _c, m, _r in stored_mutations(secured.server.db, bob_client)] == [1, 4]


def test_a_read_only_grant_reads_but_cannot_write(secured, token, user, space):
    owner = token(user, {space: "rw"})
    reader = token(user + "r", {space: "r"})
    _push(secured, owner, f"c-{user}", [mutation(1, "doc", space=space)])
    with client(secured, reader) as http:
        page = http.get("/v1/changes", params={"space": space}).json()
        assert [c["id"] for c in page["changes"]] == ["doc"]
    before = stored_state(secured.server.db)
    assert _statuses(_push(secured, reader, f"c-{user}r", [
        mutation(1, "doc", space=space, op="delete", base=1)])) == [("rejected", "forbidden")]
    assert stored_state(secured.server.db)["records"] == before["records"]


def test_sub_patterns_give_each_user_a_private_space(secured, user):
    alice, bob = user, user + "b"
    claim = {"user-{sub}": "rw"}
    alice_token, bob_token = keys.hs(keys.claims(alice, claim)), keys.hs(keys.claims(bob, claim))
    assert _statuses(_push(secured, alice_token, f"c-{alice}", [
        mutation(1, "a", space=f"user-{alice}"),
        mutation(2, "b", space=f"user-{bob}")])) == [("applied", None), ("rejected", "forbidden")]
    with client(secured, bob_token) as http:
        problem(http.get("/v1/changes", params={"space": f"user-{alice}"}), 403, "forbidden")
        assert http.get("/v1/changes", params={"space": f"user-{bob}"}).json()["changes"] == []
    with client(secured, alice_token) as http:
        page = http.get("/v1/changes", params={"space": f"user-{alice}"}).json()
        assert [c["id"] for c in page["changes"]] == ["a"]


def test_a_sub_that_is_no_space_name_gets_nothing_from_patterns(secured, space, user):
    """A pattern names the space of its own sub only: a sub outside the space-name
    characters cannot be used to reach another name."""
    odd = f"{user}/../{space}"
    token = keys.hs(keys.claims(odd, {"{sub}": "rw", space: "r"}))
    with client(secured, token) as http:
        assert http.get("/v1/changes", params={"space": space}).status_code == 200
    assert _statuses(_push(secured, token, f"c-{user}", [
        mutation(1, "x", space=space)])) == [("rejected", "forbidden")]


def test_a_forbidden_mutation_succeeds_with_the_same_mid_once_access_is_granted(
        secured, user, space):
    cid = f"c-{user}"
    m = mutation(1, "later", space=space)
    before = keys.hs(keys.claims(user, {space: "r"}))
    after = keys.hs(keys.claims(user, {space: "rw"}))
    assert _statuses(_push(secured, before, cid, [m])) == [("rejected", "forbidden")]
    assert stored_records(secured.server.db, space) == {}
    assert _statuses(_push(secured, after, cid, [m])) == [("applied", None)]
    replay = _push(secured, after, cid, [m]).json()["results"][0]
    assert replay["status"] == "applied" and replay["duplicate"] is True


def _open_conflict(secured, token_a: str, token_b: str, cid_a: str, cid_b: str,
                   space: str, record_id: str) -> int:
    """Two writers of one record in the manual collection `notes`: an open conflict."""
    _push(secured, token_a, cid_a, [mutation(1, record_id, space=space, collection="notes")])
    answer = _push(secured, token_b, cid_b, [
        mutation(1, record_id, space=space, collection="notes", data={"title": "theirs"})])
    result = answer.json()["results"][0]
    assert result["status"] == "conflict", result
    conflict_id: int = result["conflict_id"]
    return conflict_id


def test_conflict_listing_is_scoped_to_readable_spaces_in_the_query(secured, user, space):
    hidden, shown = space + "-hidden", space + "-shown"
    a = keys.hs(keys.claims(user, {hidden: "rw", shown: "rw"}))
    b = keys.hs(keys.claims(user + "b", {hidden: "rw", shown: "rw"}))
    hidden_ids = [_open_conflict(secured, a, b, f"c-{user}-{i}", f"c-{user}b-{i}", hidden,
                                 f"h{i}") for i in range(3)]
    shown_id = _open_conflict(secured, a, b, f"c-{user}-s", f"c-{user}b-s", shown, "s")
    outsider = keys.hs(keys.claims(user + "o", {shown: "r"}))
    with client(secured, outsider) as http:
        # One row per page: a page filtered after the query would come back empty.
        first = min(hidden_ids) - 1
        page = http.get("/v1/conflicts", params={"after": first, "limit": 1}).json()
        assert [c["id"] for c in page["conflicts"]] == [shown_id]
        everything = http.get("/v1/conflicts", params={"limit": 1000}).json()["conflicts"]
        assert {c["space"] for c in everything} <= {shown}
        assert not {c["id"] for c in everything} & set(hidden_ids)
        problem(http.get("/v1/conflicts", params={"space": hidden}), 403, "forbidden")


def test_resolving_another_spaces_conflict_is_not_found_or_forbidden(secured, user, space):
    a = keys.hs(keys.claims(user, {space: "rw"}))
    b = keys.hs(keys.claims(user + "b", {space: "rw"}))
    conflict_id = _open_conflict(secured, a, b, f"c-{user}", f"c-{user}b", space, "n1")
    before = stored_state(secured.server.db)
    stranger = keys.hs(keys.claims(user + "s", {space + "-other": "rw"}))
    reader = keys.hs(keys.claims(user + "r", {space: "r"}))
    with client(secured, stranger) as http:
        missing = http.post(f"/v1/conflicts/{conflict_id}/resolve", json={"accept": "client"})
        unknown = http.post("/v1/conflicts/99999999/resolve", json={"accept": "client"})
        body = problem(missing, 404, "conflict_not_found")
        # The same answer as for an id that does not exist: the id tells nothing.
        assert body == {**problem(unknown, 404, "conflict_not_found"),
                        "detail": body["detail"]}
        assert body["detail"] == f"no conflict {conflict_id}"
    with client(secured, reader) as http:
        problem(http.post(f"/v1/conflicts/{conflict_id}/resolve", json={"accept": "client"}),
                403, "forbidden")
    assert stored_state(secured.server.db) == before
    with client(secured, a) as http:
        done = http.post(f"/v1/conflicts/{conflict_id}/resolve", json={"accept": "client"})
        assert done.status_code == 200 and done.json()["status"] == "resolved"
