"""records store their rendered change

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:50:00

Each record keeps its change as the feed sends it (`change`, rendered by
syncserver/records.py when the record is written), so a feed page is a concatenation
instead of a format() per row. Rows written before are filled in by SQL that renders the
same text.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncserver.storage.sqlite import CHANGE_JSON

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change', sa.Text(), nullable=True))
    op.execute(f"UPDATE records SET change = {CHANGE_JSON}")


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('change')
