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


class Mutation(SQLModel, table=True):
    """Every mutation's stored result, for idempotent replays."""

    __tablename__ = "mutations"
    __table_args__ = (Index("ix_mutations_created_at", "created_at"),)
    client_id: str = Field(primary_key=True)
    mid: int = _bigint(primary_key=True)
    fingerprint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    space: str
    result: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int = _bigint()


class Client(SQLModel, table=True):
    __tablename__ = "clients"
    client_id: str = Field(primary_key=True)
    purged_mid: int = _bigint()  # mutation results up to here were compacted away


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
