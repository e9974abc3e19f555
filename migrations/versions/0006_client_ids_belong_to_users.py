"""client ids belong to users

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00

With authentication on, a client id is bound to the user (`sub`) whose token first pushed
with it (syncserver/core/service.py): a new table, empty at first. Client ids used before are
bound by their next authenticated push.

Downgrade drops the table and with it only the bindings; every other row is kept.
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Names and ids in keys and indexes: the "C" collation on PostgreSQL (bytewise B-tree
# comparisons; see syncserver/model/models.py KEY). SQLite's DDL is unchanged by it.
KEY = sqlmodel.sql.sqltypes.AutoString().with_variant(sa.String(collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'client_owners',
        sa.Column('client_id', KEY, nullable=False),
        sa.Column('sub', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('bound_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('client_id'),
    )


def downgrade() -> None:
    op.drop_table('client_owners')
