"""The schema, declared once with SQLModel; alembic migrations must agree with it
(tests/test_migrations.py checks). The hot paths use plain SQL over the same tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


def _bigint(primary_key: bool = False) -> Any:
    # 64-bit on PostgreSQL too: seq, versions and ms timestamps outgrow 32 bits.
    return Field(sa_column=Column(BigInteger, primary_key=primary_key, nullable=False))


class Space(SQLModel, table=True):
    __tablename__ = "spaces"
    space: str = Field(primary_key=True)
    seq: int = _bigint()  # feed position of the last change
    horizon: int = _bigint()  # highest seq of a purged tombstone: older cursors must resync


class Record(SQLModel, table=True):
    __tablename__ = "records"
    __table_args__ = (Index("ix_records_space_seq", "space", "seq", unique=True),)
    space: str = Field(primary_key=True)
    collection: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    version: int = _bigint()
    seq: int = _bigint()
    deleted: bool = False
    hlc: str
    updated_at: int = _bigint()  # ms since the epoch, server time
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # per-field versions and HLC stamps for three-way merges (see syncserver/merge.py)
    meta: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # the record's change as the feed sends it, rendered when written (records.change_json)
    change: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MutationBatch(SQLModel, table=True):
    """The stored results of a push batch's new mutations, for idempotent replays: one row
    per batch, the entries packed by storage/mutation_log.py (a row per mutation cost ~40%
    of a push's SQL)."""

    __tablename__ = "mutation_batches"
    __table_args__ = (
        Index("ix_mutation_batches_client_last", "client_id", "last_mid"),
        Index("ix_mutation_batches_created_at", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_id: str
    first_mid: int = _bigint()  # lowest and highest mid among the entries
    last_mid: int = _bigint()
    count: int = _bigint()
    created_at: int = _bigint()
    entries: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Client(SQLModel, table=True):
    __tablename__ = "clients"
    client_id: str = Field(primary_key=True)
    purged_mid: int = _bigint()  # mutation results up to here were compacted away


class ClientOwner(SQLModel, table=True):
    """Which user (a token's `sub`) a client id belongs to: bound by its first authenticated
    push, so another user can neither use it nor read its stored results (docs/security.md)."""

    __tablename__ = "client_owners"
    client_id: str = Field(primary_key=True)
    sub: str
    bound_at: int = _bigint()  # ms since the epoch, server time


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class Conflict(SQLModel, table=True):
    """The audit of automatic resolutions, and the open conflicts of `manual` collections."""

    __tablename__ = "conflicts"
    __table_args__ = (
        Index("ix_conflicts_record", "space", "collection", "record_id"),
        Index("ix_conflicts_created_at", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    space: str
    collection: str
    record_id: str
    client_id: str
    mid: int = _bigint()
    policy: str
    status: str  # resolved | open
    base_version: int = _bigint()
    server: str = Field(sa_column=Column(Text, nullable=False))  # record before, JSON
    client: str = Field(sa_column=Column(Text, nullable=False))  # the mutation, JSON
    outcome: str = Field(sa_column=Column(Text, nullable=False))  # winner, fields, result
    created_at: int = _bigint()
    resolved_at: int | None = Field(default=None, sa_column=Column(BigInteger))
