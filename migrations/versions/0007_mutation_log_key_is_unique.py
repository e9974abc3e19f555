"""mutation log: (client_id, last_mid) is unique

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:00:00

Every row holds the entries of one block of mids (0005), and a client's mid is stored
once, so no two rows of a client share their highest mid. The index the replay lookup
reads becomes unique: with several server instances on PostgreSQL, a batch replayed
verbatim to two of them at once can no longer be stored twice even if a transaction
missed the client row's lock (the lock is what serializes a client's batches; this key
catches the identical replay, not overlapping batches: docs/deployment.md).

Downgrade makes the index plain again; no row changes either way.
"""
from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_mutation_batches_client_last', table_name='mutation_batches')
    op.create_index('ix_mutation_batches_client_last', 'mutation_batches',
                    ['client_id', 'last_mid'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_mutation_batches_client_last', table_name='mutation_batches')
    op.create_index('ix_mutation_batches_client_last', 'mutation_batches',
                    ['client_id', 'last_mid'], unique=False)
