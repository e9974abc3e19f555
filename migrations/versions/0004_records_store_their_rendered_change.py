"""records store their rendered change

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:50:00

Each record keeps its change as the feed sends it (`change`, rendered by
syncserver/model/records.py when the record is written), so a feed page is a concatenation
instead of a format() per row. Rows written before are filled in by SQL that renders the
same text: SQLite's in storage/sqlite/backend.py (CHANGE_JSON, which the server also uses), the
PostgreSQL one below (records.CHANGE_FORMAT as of this revision; names, ids and stamps only
admit JSON-safe characters, so they go in quoted as they are).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncserver.storage.sqlite.backend import CHANGE_JSON

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


POSTGRESQL_CHANGE_JSON = (
    "format('{\"space\":\"%s\",\"collection\":\"%s\",\"id\":\"%s\",\"version\":%s,"
    "\"seq\":%s,\"deleted\":%s,\"hlc\":\"%s\",\"updated_at\":%s,\"data\":%s}', space, "
    "collection, id, version, seq, CASE WHEN deleted THEN 'true' ELSE 'false' END, hlc, "
    "updated_at, CASE WHEN deleted THEN 'null' ELSE coalesce(data, 'null') END)"
)


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change', sa.Text(), nullable=True))
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute(sa.text(
        f"UPDATE records SET change = {POSTGRESQL_CHANGE_JSON if postgresql else CHANGE_JSON}"))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('change')
