"""Alembic environment: the URL is the one the server uses (syncserver.storage.migrate passes it).

SQLite and PostgreSQL run the same history. Batch mode (copy-and-move of a table, SQLite's
way to alter one) is for SQLite only; PostgreSQL alters in place, and runs the whole
upgrade in one transaction (its DDL is transactional) under an advisory lock, so that
several instances starting at once migrate one after the other: the later ones find the
schema at head and do nothing.
"""

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text
from sqlmodel import SQLModel

from syncserver.config.settings import Settings
from syncserver.model import models  # noqa: F401  (registers the tables)
from syncserver.storage.migrate import database_url

# The pg_advisory_xact_lock key of migrations: a fixed bigint ("sync" in ASCII) that no
# other lock of syncserver uses.
MIGRATION_LOCK = 0x73796E63

config = context.config
url = config.attributes.get("url") or database_url(Settings.from_sources().db)


def _migrate(conn: Connection) -> None:
    postgresql = conn.dialect.name == "postgresql"
    context.configure(connection=conn, target_metadata=SQLModel.metadata,
                      render_as_batch=not postgresql)
    with context.begin_transaction():
        if postgresql:
            # Held to commit; alembic reads the current revision after it, so a waiting
            # instance sees what the one before it committed.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        migration = context.get_context()
        before = migration.get_current_revision()  # under the lock: what this run found
        context.run_migrations()
        # For syncserver.storage.migrate.upgrade(), which tells the operator what was done.
        config.attributes["revisions"] = (before, migration.get_current_revision())


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _migrate(conn)
    finally:
        engine.dispose()


run()
