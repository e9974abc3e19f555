"""web push subscriptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 00:00:00

Web Push (docs/protocol.md "Web Push"): a browser's push subscription per user and client
id (`push_subscriptions`), and the spaces it follows (`push_spaces`, read by space when a
change is committed). Two new tables, empty at first.

Downgrade drops both tables and with them only the subscriptions; every other row is kept.
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Names and ids in keys and indexes: the "C" collation on PostgreSQL (bytewise B-tree
# comparisons; see syncserver/model/models.py KEY). SQLite's DDL is unchanged by it.
KEY = sqlmodel.sql.sqltypes.AutoString().with_variant(sa.String(collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'push_subscriptions',
        sa.Column('sub', KEY, nullable=False),
        sa.Column('client_id', KEY, nullable=False),
        sa.Column('endpoint', sa.Text(), nullable=False),
        sa.Column('p256dh', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('auth', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('sub', 'client_id'),
    )
    op.create_table(
        'push_spaces',
        sa.Column('space', KEY, nullable=False),
        sa.Column('sub', KEY, nullable=False),
        sa.Column('client_id', KEY, nullable=False),
        sa.PrimaryKeyConstraint('space', 'sub', 'client_id'),
    )
    op.create_index('ix_push_spaces_device', 'push_spaces', ['sub', 'client_id'])


def downgrade() -> None:
    op.drop_index('ix_push_spaces_device', table_name='push_spaces')
    op.drop_table('push_spaces')
    op.drop_table('push_subscriptions')
