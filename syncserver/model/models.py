"""The schema, declared once with SQLModel; alembic migrations must agree with it
(tests/test_migrations.py checks). The hot paths use plain SQL over the same tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Text
from sqlmodel import AutoString, Field, SQLModel

# Names and ids in keys and indexes: on PostgreSQL in the "C" collation, whatever the
# database's default. A B-tree of text in a linguistic collation (en_US.UTF-8, ICU) calls
# strcoll() for every comparison of every lookup, and the upsert of a 500-record push makes
# thousands; "C" compares bytes, and sorts as Python sorts str (code points), so a lock order
# computed in Python is the one the database would use.
KEY = AutoString().with_variant(String(collation="C"), "postgresql")


def _key(primary_key: bool = False) -> Any:
    return Field(primary_key=primary_key, sa_type=KEY)


def _bigint(primary_key: bool = False) -> Any:
    # 64-bit on PostgreSQL too: seq, versions and ms timestamps outgrow 32 bits.
    return Field(sa_column=Column(BigInteger, primary_key=primary_key, nullable=False))


def _row_id() -> Any:
    # INTEGER on SQLite (the rowid, numbered by SQLite), BIGSERIAL on PostgreSQL (a busy
    # server's log outgrows 2**31 ids).
    return Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True))


class Space(SQLModel, table=True):
    __tablename__ = "spaces"
    space: str = _key(primary_key=True)
    seq: int = _bigint()  # feed position of the last change
    horizon: int = _bigint()  # highest seq of a purged tombstone: older cursors must resync


class Record(SQLModel, table=True):
    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_space_seq", "space", "seq", unique=True),
        # a filtered feed reads each collection's range, never the other collections'
        Index("ix_records_space_collection_seq", "space", "collection", "seq"),
    )
    space: str = _key(primary_key=True)
    collection: str = _key(primary_key=True)
    id: str = _key(primary_key=True)
    version: int = _bigint()
    seq: int = _bigint()
    deleted: bool = False
    hlc: str
    updated_at: int = _bigint()  # ms since the epoch, server time
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # per-field versions and HLC stamps for three-way merges (see syncserver/core/merge.py)
    meta: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # the record's change as the feed sends it, rendered when written (records.change_json)
    change: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # its size in bytes (UTF-8), computed by the INSERT from the change it binds: the feed's
    # byte budget counts these instead of reading every change's text (migration 0009)
    change_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # the sub of the token that created it (a put re-creating a tombstone: its new creator),
    # the role "owner" of the declared collections; NULL with auth off and for records
    # written before migration 0010
    owner: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MutationBatch(SQLModel, table=True):
    """The stored results of a push batch's new mutations, for idempotent replays: one row
    per batch, the entries packed by storage/mutation_log.py (a row per mutation cost ~40%
    of a push's SQL)."""

    __tablename__ = "mutation_batches"
    __table_args__ = (
        # unique: a row holds one block of mids and a mid is stored once (migration 0007)
        Index("ix_mutation_batches_client_last", "client_id", "last_mid", unique=True),
        Index("ix_mutation_batches_created_at", "created_at"),
    )
    id: int | None = _row_id()
    client_id: str = _key()
    first_mid: int = _bigint()  # lowest and highest mid among the entries
    last_mid: int = _bigint()
    count: int = _bigint()
    created_at: int = _bigint()
    entries: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Client(SQLModel, table=True):
    __tablename__ = "clients"
    client_id: str = _key(primary_key=True)
    purged_mid: int = _bigint()  # mutation results up to here were compacted away


class ClientOwner(SQLModel, table=True):
    """Which user (a token's `sub`) a client id belongs to: bound by its first authenticated
    push, so another user can neither use it nor read its stored results (docs/security.md)."""

    __tablename__ = "client_owners"
    client_id: str = _key(primary_key=True)
    sub: str
    bound_at: int = _bigint()  # ms since the epoch, server time


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = _key(primary_key=True)
    value: str


class Conflict(SQLModel, table=True):
    """The audit of automatic resolutions, and the open conflicts of `manual` collections."""

    __tablename__ = "conflicts"
    __table_args__ = (
        Index("ix_conflicts_record", "space", "collection", "record_id"),
        Index("ix_conflicts_created_at", "created_at"),
    )
    id: int | None = _row_id()
    space: str = _key()
    collection: str = _key()
    record_id: str = _key()
    client_id: str = _key()
    mid: int = _bigint()
    policy: str
    status: str  # resolved | open
    base_version: int = _bigint()
    server: str = Field(sa_column=Column(Text, nullable=False))  # record before, JSON
    client: str = Field(sa_column=Column(Text, nullable=False))  # the mutation, JSON
    outcome: str = Field(sa_column=Column(Text, nullable=False))  # winner, fields, result
    created_at: int = _bigint()
    resolved_at: int | None = Field(default=None, sa_column=Column(BigInteger))


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription (docs/protocol.md "Web Push"): one per user and
    client id, re-registering replaces it. `sub` is "" with auth off."""

    __tablename__ = "push_subscriptions"
    sub: str = _key(primary_key=True)
    client_id: str = _key(primary_key=True)
    endpoint: str = Field(sa_column=Column(Text, nullable=False))
    p256dh: str
    auth: str
    created_at: int = _bigint()  # ms since the epoch, server time
    updated_at: int = _bigint()


class PushSpace(SQLModel, table=True):
    """The spaces a push subscription follows: a change in one of them nudges it."""

    __tablename__ = "push_spaces"
    __table_args__ = (Index("ix_push_spaces_device", "sub", "client_id"),)
    space: str = _key(primary_key=True)
    sub: str = _key(primary_key=True)
    client_id: str = _key(primary_key=True)
