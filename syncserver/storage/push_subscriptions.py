"""Web Push subscriptions in the database (tables `push_subscriptions`, `push_spaces`):
the statements both backends run, SQLite through its writer thread and readers,
PostgreSQL through its pool. A subscription is keyed by (user, client id); auth off, the
user is "".

Every save or delete also stores a new random `webpush_version` in the meta table, in
the same transaction: an instance that keeps the set of subscribed spaces in memory
(syncserver/webpush/index.py) reloads it when the version it last read has changed, so a
subscription registered through another instance reaches this one's index.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

VERSION_KEY = "webpush_version"


@dataclass(frozen=True)
class PushSubscriptionRow:
    sub: str  # the token's user ("" with auth off)
    client_id: str
    endpoint: str
    p256dh: str  # base64url, as the browser gave it
    auth: str
    spaces: tuple[str, ...] = ()  # resolved names (empty in rows read by space)
    created_at: int = 0  # ms since the epoch
    updated_at: int = 0


class Connection(Protocol):
    def execute(self, query: Any, params: Any = ...) -> Any: ...


def _sql(conn: Connection, text: str) -> str:
    """`%s` placeholders (psycopg) as SQLite's `?`."""
    return text.replace("%s", "?") if isinstance(conn, sqlite3.Connection) else text


def _bump(conn: Connection) -> None:
    conn.execute(_sql(conn, "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                            "DO UPDATE SET value = excluded.value"),
                 (VERSION_KEY, secrets.token_hex(8)))


SAVED, FULL, NOT_YOURS = "saved", "full", "not_yours"


def save(conn: Connection, row: PushSubscriptionRow, max_per_user: int) -> str:
    """Insert or replace the subscription of (row.sub, row.client_id) and its spaces:
    SAVED; nothing stored: FULL when the user already holds `max_per_user` other
    subscriptions, NOT_YOURS when auth on bound the client id to another user."""
    if row.sub:
        owner = conn.execute(_sql(conn, "SELECT sub FROM client_owners WHERE client_id = %s"),
                             (row.client_id,)).fetchone()
        if owner is not None and owner[0] != row.sub:
            return NOT_YOURS
    others = conn.execute(_sql(conn, "SELECT count(*) FROM push_subscriptions WHERE sub = %s "
                                     "AND client_id != %s"),
                          (row.sub, row.client_id)).fetchone()[0]
    if others >= max_per_user:
        return FULL
    conn.execute(_sql(conn, "INSERT INTO push_subscriptions (sub, client_id, endpoint, p256dh, "
                            "auth, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (sub, client_id) DO UPDATE SET endpoint = "
                            "excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth, "
                            "updated_at = excluded.updated_at"),
                 (row.sub, row.client_id, row.endpoint, row.p256dh, row.auth, row.created_at,
                  row.updated_at))
    conn.execute(_sql(conn, "DELETE FROM push_spaces WHERE sub = %s AND client_id = %s"),
                 (row.sub, row.client_id))
    for space in sorted(set(row.spaces)):
        conn.execute(_sql(conn, "INSERT INTO push_spaces (space, sub, client_id) "
                                "VALUES (%s, %s, %s)"), (space, row.sub, row.client_id))
    _bump(conn)
    return SAVED


def delete(conn: Connection, sub: str, client_id: str, endpoint: str | None = None) -> bool:
    """Remove the subscription of (sub, client_id); with `endpoint`, only if it is still
    that one (a push service's 410 must not remove a subscription registered since)."""
    where = "sub = %s AND client_id = %s"
    params: tuple[str, ...] = (sub, client_id)
    if endpoint is not None:
        where += " AND endpoint = %s"
        params += (endpoint,)
    deleted = conn.execute(_sql(conn, f"DELETE FROM push_subscriptions WHERE {where}"),
                           params).rowcount
    if deleted:
        conn.execute(_sql(conn, "DELETE FROM push_spaces WHERE sub = %s AND client_id = %s"),
                     (sub, client_id))
        _bump(conn)
    return bool(deleted)


def of_space(conn: Connection, space: str) -> list[PushSubscriptionRow]:
    """The subscriptions that follow `space` (without their list of spaces)."""
    rows = conn.execute(_sql(conn, "SELECT s.sub, s.client_id, s.endpoint, s.p256dh, s.auth, "
                                   "s.created_at, s.updated_at FROM push_spaces p JOIN "
                                   "push_subscriptions s ON s.sub = p.sub AND s.client_id = "
                                   "p.client_id WHERE p.space = %s ORDER BY s.sub, "
                                   "s.client_id"), (space,)).fetchall()
    return [PushSubscriptionRow(r[0], r[1], r[2], r[3], r[4], (), int(r[5]), int(r[6]))
            for r in rows]


def of_device(conn: Connection, sub: str, client_id: str) -> PushSubscriptionRow | None:
    row = conn.execute(_sql(conn, "SELECT endpoint, p256dh, auth, created_at, updated_at FROM "
                                  "push_subscriptions WHERE sub = %s AND client_id = %s"),
                       (sub, client_id)).fetchone()
    if row is None:
        return None
    spaces = conn.execute(_sql(conn, "SELECT space FROM push_spaces WHERE sub = %s AND "
                                     "client_id = %s ORDER BY space"),
                          (sub, client_id)).fetchall()
    return PushSubscriptionRow(sub, client_id, row[0], row[1], row[2],
                               tuple(s[0] for s in spaces), int(row[3]), int(row[4]))


def spaces(conn: Connection) -> tuple[str | None, set[str]]:
    """The version (None: nothing ever registered) and the spaces with a subscription,
    read in one transaction where the backend has one."""
    version = conn.execute(_sql(conn, "SELECT value FROM meta WHERE key = %s"),
                           (VERSION_KEY,)).fetchone()
    names = conn.execute("SELECT DISTINCT space FROM push_spaces").fetchall()
    return (None if version is None else str(version[0])), {str(n[0]) for n in names}


def version(conn: Connection) -> str | None:
    row = conn.execute(_sql(conn, "SELECT value FROM meta WHERE key = %s"),
                       (VERSION_KEY,)).fetchone()
    return None if row is None else str(row[0])


T = TypeVar("T")


class _Backend(Protocol):
    """What PushSubscriptionStore uses of the backend it is mixed into."""

    async def write(self, fn: Callable[[Any], T]) -> T: ...

    async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...


class PushSubscriptionStore:
    """The Storage protocol's Web Push methods, the same on both backends (mixed into
    SQLiteStorage and PostgresStorage): each runs one of the functions above, a save or a
    delete in the backend's write transaction, a read on its readers."""

    async def save_push_subscription(self: _Backend, row: PushSubscriptionRow,
                                     max_per_user: int) -> str:
        return await self.write(lambda txn: save(txn.conn, row, max_per_user))

    async def delete_push_subscription(self: _Backend, sub: str, client_id: str,
                                       endpoint: str | None = None) -> bool:
        return await self.write(lambda txn: delete(txn.conn, sub, client_id, endpoint))

    async def push_subscription(self: _Backend, sub: str, client_id: str
                                ) -> PushSubscriptionRow | None:
        return await self._read(of_device, sub, client_id)

    async def push_subscriptions(self: _Backend, space: str) -> list[PushSubscriptionRow]:
        return await self._read(of_space, space)

    async def push_spaces(self: _Backend) -> tuple[str | None, set[str]]:
        return await self._read(spaces)

    async def push_version(self: _Backend) -> str | None:
        return await self._read(version)
