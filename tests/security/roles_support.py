"""A real server with declared collections and role lists (issue 23), on SQLite or on
PostgreSQL, its tokens, pushes and the stored data read from its database.

The collections file: `open` (no roles), `team` (roles per operation, owners may update and
delete their records), `mine` (each user reads only their own records, auditors all),
`secret` (admins only), `notes` (manual conflicts; read as `mine`, updated by owners and
editors); any other collection is undeclared (as without a file)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from syncserver.config.setting_kinds import is_postgresql
from syncserver.storage import mutation_log
from syncserver.storage.migrate import libpq_url
from tests.helpers import hlc, stamped_by
from tests.pg import backend_database
from tests.server import ServerProcess

from . import keys

COLLECTIONS = """
undeclared = "allow"

[collections.open]

[collections.team]
policy = "server-wins"
read = ["member", "auditor"]
create = ["member"]
update = ["editor", "owner"]
delete = ["admin", "owner"]

[collections.mine]
read = ["owner", "auditor"]
update = ["owner"]
delete = ["owner"]

[collections.secret]
read = ["admin"]
create = ["admin"]
update = ["admin"]
delete = ["admin"]

[collections.notes]
policy = "manual"
read = ["owner", "auditor"]
update = ["owner", "editor"]
"""
ALL_ROLES = ["member", "editor", "admin", "auditor"]


@dataclass
class RoleServer:
    server: ServerProcess
    db: str

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, sub: str, spaces: dict[str, str], roles: Any = None) -> str:
        return keys.hs(keys.claims(sub, spaces, roles=roles))

    def push(self, token: str, client_id: str, mutations: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
        answer = httpx.post(f"{self.url}/v1/push", timeout=30,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"client_id": client_id, "protocol": 2,
                                  "mutations": stamped_by(client_id, mutations)})
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        return results

    def get(self, token: str, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})

    def feed(self, token: str, space: str, **params: Any) -> list[dict[str, Any]]:
        """Every change of `space` the token is sent, from the start (GET /v1/changes)."""
        changes, cursor = [], ""
        while True:
            answer = self.get(token, "/v1/changes", space=space, since=cursor, **params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            changes += page["changes"]
            cursor = page["cursor"]
            if not page["more"]:
                return changes

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return query(self.db, sql, *params)

    def record(self, space: str, collection: str, record_id: str) -> dict[str, Any] | None:
        """The stored row: version, deleted, owner, data (None: no such record)."""
        rows = self.query("SELECT version, deleted, owner, data FROM records WHERE space = ? "
                          "AND collection = ? AND id = ?", space, collection, record_id)
        if not rows:
            return None
        version, deleted, owner, data = rows[0]
        return {"version": version, "deleted": bool(deleted), "owner": owner,
                "data": orjson.loads(data) if data else None}

    def stored_mids(self, client_id: str) -> list[int]:
        """The mids whose results are stored for `client_id` (the mutation log)."""
        blobs = self.query("SELECT entries FROM mutation_batches WHERE client_id = ?",
                           client_id)
        return sorted(mid for (blob,) in blobs for mid, _fp, _r in
                      mutation_log.decode(bytes(blob)))


def query(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """A query of the server's database, either backend (`?` placeholders)."""
    if is_postgresql(db):
        with psycopg.connect(libpq_url(db)) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@contextmanager
def role_server(backend: str, folder: Path) -> Iterator[RoleServer]:
    """A server of `backend` with the collections file above, auth on (the tests' HS256
    secret)."""
    declared = folder / "collections.toml"
    declared.write_text(COLLECTIONS)
    with backend_database(backend, folder) as db:
        server = ServerProcess(db, log=folder / "server.log", env={
            "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
            "SYNCSERVER_JWT_ISSUER": keys.ISSUER, "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE,
            "SYNCSERVER_COLLECTIONS": str(declared),
            # as the file says (the file's policies may be wired in after roles)
            "SYNCSERVER_POLICIES": "notes=manual,team=server-wins"}).start()
        try:
            yield RoleServer(server, db)
        finally:
            server.stop()


def put(mid: int, space: str, collection: str, record_id: str, data: Any = None,
        base: int = 0) -> dict[str, Any]:
    return {"mid": mid, "space": space, "collection": collection, "id": record_id,
            "op": "put", "base_version": base, "hlc": hlc(),
            "data": data if data is not None else {"title": record_id}}


def patch(mid: int, space: str, collection: str, record_id: str, data: Any,
          base: int) -> dict[str, Any]:
    return {**put(mid, space, collection, record_id, data, base), "op": "patch"}


def delete(mid: int, space: str, collection: str, record_id: str, base: int
           ) -> dict[str, Any]:
    return {"mid": mid, "space": space, "collection": collection, "id": record_id,
            "op": "delete", "base_version": base, "hlc": hlc()}


def fresh(prefix: str = "sp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
