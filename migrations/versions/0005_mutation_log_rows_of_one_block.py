"""mutation log: each row holds one block of mids

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

A replay lookup now reads only the rows of the blocks of 64 mids that the incoming batch's
mids fall in (syncserver/storage/mutation_log.py), so every row must hold mids of one block.
Rows written before hold a whole batch, whatever its mids: each is cut into one row per
block, with the same client, creation time and entries (the stored bytes, unchanged).

Downgrade keeps the cut rows: the lookup before 0005 reads rows of any span, so it finds
every entry in them as well.
"""
from __future__ import annotations

import sys

import sqlalchemy as sa
from alembic import op

from syncserver.storage import mutation_log

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BLOCK = 64  # mutation_log.BLOCK when this revision was written: the format on disk


def upgrade() -> None:
    assert mutation_log.BLOCK == BLOCK, "a new block size needs a migration of its own"
    conn = op.get_bind()
    select = sa.text(
        "SELECT id, client_id, created_at, entries FROM mutation_batches "
        "WHERE id > :after AND first_mid / :block != last_mid / :block ORDER BY id LIMIT 1000")
    insert = sa.text(
        "INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, created_at, "
        "entries) VALUES (:client_id, :first_mid, :last_mid, :count, :created_at, :entries)")
    # New rows get ids above every old one: reading on by id never meets them (they are
    # of one block anyway).
    after, done = 0, 0
    while wide := conn.execute(select, {"after": after, "block": BLOCK}).all():
        for row_id, client_id, created_at, blob in wide:
            rows = mutation_log.by_block(mutation_log.decode(bytes(blob)))
            conn.execute(insert, [
                {"client_id": client_id, "first_mid": min(e[0] for e in row),
                 "last_mid": max(e[0] for e in row), "count": len(row),
                 "created_at": created_at, "entries": mutation_log.encode(row)}
                for row in rows])
            conn.execute(sa.text("DELETE FROM mutation_batches WHERE id = :id"), {"id": row_id})
        after, done = wide[-1][0], done + len(wide)
        print(f"0005: {done:,} batch rows cut by block of mids", file=sys.stderr)

def downgrade() -> None:
    pass  # see the module's docstring: the rows as cut are valid before 0005 too
