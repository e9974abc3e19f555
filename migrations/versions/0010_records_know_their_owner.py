"""records know their owner, the user who created them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 10:00:00

Issue 23 (declared collections, roles):
- `owner`: the `sub` of the token whose push created the record (a put re-creating a
  tombstone gives it its new creator); the collections file's role "owner" lets a user
  read, update or delete the records they own. NULL with auth off, and for the records
  written before this migration: nobody owns them (an operator who knows their creators
  may fill it in).

No index: a feed limited to a reader's own records reads its collection's range of the
(space, collection, seq) index and checks the owner row by row, and every index more is
written by every push.

Downgrade drops the column; no other data changes.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('owner')
