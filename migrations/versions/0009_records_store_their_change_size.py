"""records store their change's size; the feed by collection has its index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:30:00

Issue 22 (the changefeed):
- `change_size`: the size in bytes of the record's change as stored (UTF-8), written with
  it (the INSERT computes it from the change it binds). A feed page's byte budget adds
  these up instead of reading every change's text. Rows written before are filled in here,
  from their change (which migration 0004 filled in).
- `ix_records_space_collection_seq`: a feed filtered by collection reads each collection's
  range in seq order instead of scanning the whole space's changes.

Downgrade drops both; no row is lost (the size can be computed again from the change).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_size', sa.BigInteger(), nullable=True))
    postgresql = op.get_bind().dialect.name == "postgresql"
    size = "octet_length(change)" if postgresql else "length(CAST(change AS BLOB))"
    op.execute(sa.text(f"UPDATE records SET change_size = {size} WHERE change IS NOT NULL"))
    op.create_index('ix_records_space_collection_seq', 'records',
                    ['space', 'collection', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_records_space_collection_seq', table_name='records')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('change_size')
