"""Alembic environment: the URL is the one the server uses (syncserver.migrate passes it)."""

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

from syncserver import models  # noqa: F401  (registers the tables)
from syncserver.migrate import database_url
from syncserver.settings import Settings

config = context.config
url = config.attributes.get("url") or database_url(Settings.from_sources().db)


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=SQLModel.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=SQLModel.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
