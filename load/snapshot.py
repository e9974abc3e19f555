"""Read a server's whole feed from cursor zero: the checker's view of the server state."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from load.checker import Feed
from load.http import HttpConnection


class SnapshotError(Exception):
    pass


async def read_feed(url: str, spaces: list[str], limit: int, token: str | None = None) -> Feed:
    conn = HttpConnection(url, token, timeout=120)
    feed: Feed = {}
    try:
        for space in spaces:
            changes: list[dict[str, Any]] = []
            cursor = ""
            while True:
                path = f"/v1/changes?space={quote(space)}&since={quote(cursor)}&limit={limit}"
                page = await _get_page(conn, path)
                changes.extend(page["changes"])
                cursor = page["cursor"]
                if not page.get("more"):
                    break
            feed[space] = changes
    finally:
        await conn.close()
    return feed


async def read_audit(
    url: str, spaces: list[str], token: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Every conflicts-audit entry of the spaces (``GET /v1/conflicts``), paged with ``after``."""
    conn = HttpConnection(url, token, timeout=120)
    entries: list[dict[str, Any]] = []
    try:
        for space in spaces:
            after = 0
            while True:
                path = f"/v1/conflicts?space={quote(space)}&after={after}&limit={limit}"
                page = await _get_page(conn, path)
                entries.extend(page["conflicts"])
                if not page.get("more") or not page["conflicts"]:
                    break
                after = page.get("next") or page["conflicts"][-1]["id"]
    finally:
        await conn.close()
    return entries


async def _get_page(conn: HttpConnection, path: str) -> Any:
    response = await conn.request("GET", path)
    assert response is not None
    if response.status != 200:
        raise SnapshotError(f"GET {path} -> {response.status}: {response.body[:300]!r}")
    return orjson.loads(response.body)
