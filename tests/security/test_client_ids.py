"""A client id belongs to the user whose token first pushed with it: another user can
neither pre-use its next mids, nor replay its batches to read their stored results."""

from __future__ import annotations

import httpx

from syncserver.storage.migrate import alembic_config
from tests.core.support import read_db, stored_mutations
from tests.helpers import mutation, stamped_by

from . import keys
from .conftest import bearer
from .support import problem, stored_state


def _push(url: str, token: str, client_id: str, mutations: list[dict]) -> httpx.Response:
    batch = {"client_id": client_id, "protocol": 2,
             "mutations": stamped_by(client_id, mutations)}
    return httpx.post(f"{url}/v1/push", json=batch, headers=bearer(token), timeout=30)


def _refused_without_mids(response: httpx.Response) -> None:
    body = problem(response, 403, "forbidden")
    assert body["field"] == "client_id"
    assert "results" not in body and "mid" not in response.text


def test_pre_using_another_users_client_id_is_refused_and_its_writes_go_on(secured, user,
                                                                           space):
    shared = space + "-shared"
    victim = keys.hs(keys.claims(user, {shared: "rw"}))
    attacker = keys.hs(keys.claims(user + "x", {shared: "rw"}))
    cid = f"c-{user}"
    assert _push(secured.url, victim, cid, [mutation(1, "a", space=shared)]).status_code == 200
    before = stored_state(secured.server.db)
    # The victim's next mids, pushed first by someone else under the victim's client id:
    squatted = [mutation(mid, f"squat{mid}", space=shared) for mid in (2, 3, 4)]
    _refused_without_mids(_push(secured.url, attacker, cid, squatted))
    assert stored_state(secured.server.db) == before
    # The victim's own writes with those mids are applied, not `mutation_id_reused`.
    mine = _push(secured.url, victim, cid, [mutation(mid, f"mine{mid}", space=shared)
                                            for mid in (2, 3, 4)]).json()["results"]
    assert [r["status"] for r in mine] == ["applied"] * 3


def test_replaying_another_users_batch_reads_nothing_of_its_results(secured, user, space):
    victim = keys.hs(keys.claims(user, {space: "rw"}))
    attacker = keys.hs(keys.claims(user + "x", {space: "rw", space + "-x": "rw"}))
    cid = f"c-{user}"
    batch = [mutation(1, "a", space=space), mutation(2, "b", space=space)]
    assert _push(secured.url, victim, cid, batch).status_code == 200
    before = stored_state(secured.server.db)
    _refused_without_mids(_push(secured.url, attacker, cid, batch))
    _refused_without_mids(_push(secured.url, attacker, cid, [mutation(1, "z", space + "-x")]))
    assert stored_state(secured.server.db) == before
    assert read_db(secured.server.db, "SELECT sub FROM client_owners WHERE client_id = ?",
                   (cid,)) == [(user,)]


def test_a_client_id_is_bound_by_its_first_push_even_if_every_mutation_was_forbidden(
        secured, user, space):
    """Binding does not depend on what the batch wrote: a user who can write nothing still
    owns the client id it pushed with first."""
    nothing = keys.hs(keys.claims(user, {}))
    other = keys.hs(keys.claims(user + "x", {space: "rw"}))
    cid = f"c-{user}"
    first = _push(secured.url, nothing, cid, [mutation(1, "a", space=space)])
    assert first.json()["results"][0]["code"] == "forbidden"
    _refused_without_mids(_push(secured.url, other, cid, [mutation(1, "a", space=space)]))
    assert stored_mutations(secured.server.db, cid) == []


def test_client_owners_migration_goes_down_and_up_keeping_the_data(server_factory, tmp_path):
    from alembic import command

    db = tmp_path / "owners.db"
    env = {"SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
           "SYNCSERVER_JWT_ISSUER": keys.ISSUER, "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE}
    server = server_factory(db=db, env=env)
    token = keys.hs(keys.claims("alice", {"s": "rw"}))
    assert _push(server.url, token, "c-a", [mutation(1, "a", space="s")]).status_code == 200
    server.stop()
    records = read_db(db, "SELECT * FROM records")
    assert read_db(db, "SELECT client_id, sub FROM client_owners") == [("c-a", "alice")]

    command.downgrade(alembic_config(str(db)), "0005")
    tables = {r[0] for r in read_db(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "client_owners" not in tables
    # 0005's records: every column but the change's size and the owner (migrations 0009
    # and 0010 add them)
    kept = "space, collection, id, version, seq, deleted, hlc, updated_at, data, meta, change"
    assert read_db(db, f"SELECT {kept} FROM records") == [row[:11] for row in records]
    command.upgrade(alembic_config(str(db)), "head")
    assert read_db(db, "SELECT * FROM client_owners") == []
    # the size is computed again; who created the record is gone with 0010's column
    assert read_db(db, f"SELECT {kept}, change_size, owner FROM records") == [
        (*row[:12], None) for row in records]
    assert [row[12] for row in records] == ["alice"]
