"""Checks of the stored state, read from the SQLite file itself."""

from __future__ import annotations

from pathlib import Path

from tests.core.support import read_db

TABLES = ("records", "spaces", "mutation_batches", "clients", "client_owners", "conflicts")


def stored_state(db: Path) -> dict[str, list[tuple]]:
    """Every row of every data table: a refused request must leave it as it was."""
    return {t: sorted(read_db(db, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body
