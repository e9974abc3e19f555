"""mutation log: one row per batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:10:00

The per-mutation `mutations` table becomes `mutation_batches`, one row per push batch with
its entries packed (syncserver/storage/mutation_log.py). Stored results are carried over,
so replays of batches sent before the upgrade still get their first answers back: the rows
of one batch share their created_at, and each such group becomes one batch row.
"""
from __future__ import annotations

import sys
from itertools import groupby

import sqlalchemy as sa
import sqlmodel
from alembic import op

from syncserver.storage import mutation_log

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Names and ids in keys and indexes: the "C" collation on PostgreSQL (bytewise B-tree
# comparisons; see syncserver/model/models.py KEY). SQLite's DDL is unchanged by it.
KEY = sqlmodel.sql.sqltypes.AutoString().with_variant(sa.String(collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'mutation_batches',
        # INTEGER on SQLite (the rowid), BIGSERIAL on PostgreSQL: ids of rows a batch writes
        # (and of rolled-back ones) outgrow 2**31 on a busy server
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('client_id', KEY, nullable=False),
        sa.Column('first_mid', sa.BigInteger(), nullable=False),
        sa.Column('last_mid', sa.BigInteger(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('entries', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('mutation_batches', schema=None) as batch_op:
        batch_op.create_index('ix_mutation_batches_client_last', ['client_id', 'last_mid'],
                              unique=False)
        batch_op.create_index('ix_mutation_batches_created_at', ['created_at'], unique=False)
    _copy_results()
    with op.batch_alter_table('mutations', schema=None) as batch_op:
        batch_op.drop_index('ix_mutations_created_at')
    op.drop_table('mutations')


def _copy_results() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT client_id, created_at, mid, fingerprint, result FROM mutations "
        "ORDER BY client_id, created_at, mid"))
    insert = sa.text(
        "INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, created_at, "
        "entries) VALUES (:client_id, :first_mid, :last_mid, :count, :created_at, :entries)")
    copied = 0
    pending: list[dict[str, object]] = []
    for (client_id, created_at), group in groupby(rows, key=lambda r: (r[0], r[1])):
        entries = [(mid, bytes(fp), bytes(result)) for _c, _t, mid, fp, result in group]
        pending.append({"client_id": client_id, "first_mid": entries[0][0],
                        "last_mid": entries[-1][0], "count": len(entries),
                        "created_at": created_at, "entries": mutation_log.encode(entries)})
        copied += len(entries)
        if len(pending) >= 1000:
            conn.execute(insert, pending)
            pending.clear()
            print(f"0003: {copied:,} stored mutation results carried over", file=sys.stderr)
    if pending:
        conn.execute(insert, pending)


def downgrade() -> None:
    op.create_table(
        'mutations',
        sa.Column('client_id', KEY, nullable=False),
        sa.Column('mid', sa.BigInteger(), nullable=False),
        sa.Column('fingerprint', sa.LargeBinary(), nullable=False),
        sa.Column('space', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('result', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('client_id', 'mid'),
    )
    with op.batch_alter_table('mutations', schema=None) as batch_op:
        batch_op.create_index('ix_mutations_created_at', ['created_at'], unique=False)
    conn = op.get_bind()
    insert = sa.text(
        "INSERT INTO mutations (client_id, mid, fingerprint, space, result, created_at) "
        "VALUES (:client_id, :mid, :fingerprint, '', :result, :created_at)")
    for client_id, created_at, blob in conn.execute(sa.text(
            "SELECT client_id, created_at, entries FROM mutation_batches ORDER BY id")).all():
        conn.execute(insert, [
            {"client_id": client_id, "mid": mid, "fingerprint": fp, "result": result,
             "created_at": created_at}
            for mid, fp, result in mutation_log.decode(bytes(blob))])
    with op.batch_alter_table('mutation_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_mutation_batches_created_at')
        batch_op.drop_index('ix_mutation_batches_client_last')
    op.drop_table('mutation_batches')
