"""The alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

from syncserver import models  # noqa: F401  (registers the tables)
from syncserver.migrate import alembic_config
from tests.server import REPO


def test_migrated_schema_matches_the_models(tmp_path):
    db = tmp_path / "fresh.db"
    done = subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", str(db)],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{db}", poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
            current = context.get_current_revision()
    finally:
        engine.dispose()
    assert diff == [], f"migrations and models disagree: {diff}"
    head = ScriptDirectory.from_config(alembic_config(str(db))).get_current_head()
    assert current == head


def test_migrate_twice_is_a_no_op(tmp_path):
    db = tmp_path / "twice.db"
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", str(db)],
                              capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
        assert done.returncode == 0, done.stderr
