"""Where the server's own files are: the migration scripts and the browser client.

The repository keeps them at its top (migrations/, client_sw/). pyproject.toml maps them to
syncserver._migrations and syncserver._client, so an installed wheel has them inside the
package directory. A source checkout (and an editable install, which runs the checkout's
code) has them beside it. Nothing else should compute these paths.

Looked up from this file rather than imported: the files then always come from the same
tree as the code that uses them. An editable install's import hook may point at another
checkout (or predate these packages), and it cannot import directories without an
__init__.py that live outside the package."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # syncserver/, above this room (config/)


def _directory(installed: str, in_checkout: str) -> Path:
    candidates = (PACKAGE_DIR / installed, PACKAGE_DIR.parent / in_checkout)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RuntimeError("syncserver is incompletely installed: none of "
                       + ", ".join(str(c) for c in candidates) + " exists")


def migrations_dir() -> Path:
    """Alembic's script location (env.py, versions/)."""
    return _directory("_migrations", "migrations")


def client_dir() -> Path:
    """The browser client: src/ (served at /sync/) and demo/ (served at /)."""
    return _directory("_client", "client_sw")
