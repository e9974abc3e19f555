"""Upgrades keep the data, on SQLite and on PostgreSQL alike: rows written at an old
revision (0002, before the mutation log was packed, the change rendered and measured and
the log cut by block) read the same after upgrading to head, down to 0002 and up again; a
record's owner (0010) goes with its column and nothing else does."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, pool, text

from syncserver.model.records import change_json
from syncserver.storage import mutation_log
from syncserver.storage.migrate import alembic_config, database_url

BIG = 2**63 - 1  # the highest mid: the last block of the log

SPACES = [("s1", 5, 0), ("ünï-space", 1, 0)]
# space, collection, id, version, seq, deleted, hlc, updated_at, data, meta
RECORDS = [
    ("s1", "todos", "a", 2, 4, False, "0000000001000:00000:n1", 1000,
     '{"title":"a","done":true}', '{"fields":{"done":{"v":2}}}'),
    ("s1", "todos", "b", 3, 5, True, "0000000001001:00000:n1", 1001, None, None),
    ("s1", "notes", "c", 1, 3, False, "0000000001002:00003:n2", 1002,
     '{"text":"ünïcödé \\" \\\\ \\n","n":[1,2.5,null]}', '{"created":1}'),
    ("ünï-space", "todos", "a", 1, 1, False, "0000000001003:00000:n1", 1003, '{}', None),
]
# client_id, mid, fingerprint, space, result, created_at: c1's second batch spans blocks
MUTATIONS = [
    ("c1", 1, b"\x01" * 16, "s1", b'{"mid":1,"status":"applied","version":1,"seq":1}', 900),
    ("c1", 2, b"\x02" * 16, "s1", b'{"mid":2,"status":"applied","version":1,"seq":2}', 900),
    ("c1", 3, b"\x03" * 16, "s1", b'{"mid":3,"status":"rejected","code":"bad"}', 900),
    ("c1", 64, b"\x04" * 16, "s1", b'{"mid":64,"status":"applied","version":2,"seq":4}', 950),
    ("c1", 65, b"\x05" * 16, "s1", b'{"mid":65,"status":"applied","version":3,"seq":5}', 950),
    ("c1", BIG, b"\x06" * 16, "s1", b'{"mid":9223372036854775807,"status":"merged"}', 950),
    ("c-ü", 7, b"\x07" * 16, "s1", b'{"mid":7,"status":"applied","version":1,"seq":3}', 960),
]
CLIENTS = [("c0", 12)]
META = [("cursor_secret", "ab" * 32), ("epoch", "e-1"), ("legacy_epoch", "e-0")]
# space, collection, record_id, client_id, mid, policy, status, base_version, server, client,
# outcome, created_at, resolved_at
CONFLICTS = [
    ("s1", "todos", "a", "c1", 64, "merge", "resolved", 1, '{"v":1}', '{"mid":64}',
     '{"winner":"client"}', 950, 950),
    ("s1", "notes", "c", "c-ü", 7, "manual", "open", 0, '{}', '{"mid":7}', '{}', 960, None),
]


@pytest.fixture
def engine(any_db: str) -> Iterator[Engine]:
    made = create_engine(database_url(any_db), poolclass=pool.NullPool)
    yield made
    made.dispose()


def _insert(engine: Engine, table: str, columns: str, rows: list[tuple]) -> None:
    names = [c.strip() for c in columns.split(",")]
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES "
                          f"({', '.join(':' + n for n in names)})"),
                     [dict(zip(names, row, strict=True)) for row in rows])


def _read(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(text(sql))]


def _write_at_0002(engine: Engine) -> None:
    _insert(engine, "spaces", "space, seq, horizon", SPACES)
    _insert(engine, "records", "space, collection, id, version, seq, deleted, hlc, "
            "updated_at, data, meta", RECORDS)
    _insert(engine, "mutations", "client_id, mid, fingerprint, space, result, created_at",
            MUTATIONS)
    _insert(engine, "clients", "client_id, purged_mid", CLIENTS)
    _insert(engine, "meta", "key, value", META)
    _insert(engine, "conflicts", "space, collection, record_id, client_id, mid, policy, "
            "status, base_version, server, client, outcome, created_at, resolved_at",
            CONFLICTS)


def _assert_kept_at_head(engine: Engine) -> None:
    records = _read(engine, "SELECT space, collection, id, version, seq, deleted, hlc, "
                            "updated_at, data, meta, change, change_size FROM records")
    assert sorted((*r[:5], bool(r[5]), *r[6:10]) for r in records) == sorted(RECORDS)
    for r in records:  # filled in by 0004: byte for byte what the server renders
        assert r[10] == change_json(*r[:5], bool(r[5]), *r[6:9]), r
        assert orjson.loads(r[10])["id"] == r[2]
        assert r[11] == len(r[10].encode()), r  # 0009: its size in bytes (UTF-8)
    log = _read(engine, "SELECT client_id, first_mid, last_mid, count, created_at, entries "
                        "FROM mutation_batches")
    kept = sorted((client, mid, fp, result, created)
                  for client, first, last, count, created, blob in log
                  for mid, fp, result in mutation_log.decode(blob))
    assert kept == sorted((c, m, fp, r, t) for c, m, fp, _s, r, t in MUTATIONS)
    for _client, first, last, count, _created, blob in log:  # 0005: one block per row
        mids = [mid for mid, _fp, _r in mutation_log.decode(blob)]
        assert (first, last, count) == (min(mids), max(mids), len(mids))
        assert first // mutation_log.BLOCK == last // mutation_log.BLOCK
    assert len(log) == 4  # c1: 1-3, 64-65, BIG; c-ü: 7
    assert sorted(_read(engine, "SELECT space, seq, horizon FROM spaces")) == sorted(SPACES)
    assert _read(engine, "SELECT client_id, purged_mid FROM clients") == CLIENTS
    assert sorted(_read(engine, "SELECT key, value FROM meta")) == sorted(META)
    assert sorted(_read(engine, "SELECT space, collection, record_id, client_id, mid, policy, "
                                "status, base_version, server, client, outcome, created_at, "
                                "resolved_at FROM conflicts")) == sorted(CONFLICTS)
    assert _read(engine, "SELECT count(*) FROM client_owners") == [(0,)]
    # 0010: records written before have no owner (nobody knows their creator)
    assert _read(engine, "SELECT DISTINCT owner FROM records") == [(None,)]


def test_rows_written_at_0002_are_kept_through_head_and_back(any_db, engine):
    command.upgrade(alembic_config(any_db), "0002")
    _write_at_0002(engine)

    command.upgrade(alembic_config(any_db), "head")
    _assert_kept_at_head(engine)

    # Down to 0002: the per-mutation rows again (their space is not kept by the packed log)
    command.downgrade(alembic_config(any_db), "0002")
    rows = _read(engine, "SELECT client_id, mid, fingerprint, result, created_at "
                         "FROM mutations")
    assert sorted(rows) == sorted((c, m, fp, r, t) for c, m, fp, _s, r, t in MUTATIONS)
    assert sorted((*r[:5], bool(r[5]), *r[6:]) for r in _read(
        engine, "SELECT space, collection, id, version, seq, deleted, hlc, updated_at, "
                "data, meta FROM records")) == sorted(RECORDS)

    command.upgrade(alembic_config(any_db), "head")
    _assert_kept_at_head(engine)


def test_the_unique_mutation_log_key_refuses_a_mid_stored_twice(any_db, engine):
    """0007: two rows of a client with the same highest mid cannot both be stored."""
    command.upgrade(alembic_config(any_db), "head")
    row = {"client_id": "c1", "first_mid": 1, "last_mid": 3, "count": 3, "created_at": 1,
           "entries": mutation_log.encode([(1, b"f", b"{}"), (3, b"g", b"{}")])}
    insert = text("INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, "
                  "created_at, entries) VALUES (:client_id, :first_mid, :last_mid, :count, "
                  ":created_at, :entries)")
    with engine.begin() as conn:
        conn.execute(insert, row)
        conn.execute(insert, {**row, "client_id": "c2"})  # another client: its own mids
    with pytest.raises(Exception, match=r"(?i)unique"):
        with engine.begin() as conn:
            conn.execute(insert, {**row, "first_mid": 3, "count": 1})


def test_owners_go_down_with_their_column_and_the_records_stay(any_db, engine):
    """0010: `records.owner`, the creator's sub (roles, issue 23). Down to 0009 drops the
    column and keeps every record as it was; up again, the records are back, owned by
    nobody."""
    command.upgrade(alembic_config(any_db), "head")
    columns = "space, collection, id, version, seq, deleted, hlc, updated_at, data, meta"
    _insert(engine, "records", columns + ", owner", [
        (*RECORDS[0], "alice"), (*RECORDS[1], None), (*RECORDS[2], "bob")])
    kept = sorted(_read(engine, f"SELECT {columns} FROM records"))
    assert sorted(_read(engine, "SELECT id, owner FROM records"),
                  key=lambda r: r[0]) == [("a", "alice"), ("b", None), ("c", "bob")]

    command.downgrade(alembic_config(any_db), "0009")
    with engine.connect() as conn:
        assert "owner" not in {c["name"] for c in inspect(conn).get_columns("records")}
    assert sorted(_read(engine, f"SELECT {columns} FROM records")) == kept

    command.upgrade(alembic_config(any_db), "head")
    assert sorted(_read(engine, f"SELECT {columns} FROM records")) == kept
    assert _read(engine, "SELECT DISTINCT owner FROM records") == [(None,)]
