"""Read a server's whole feed from cursor zero: the checker's view of the server state."""

from __future__ import annotations

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
            changes: list = []
            cursor = ""
            while True:
                path = f"/v1/changes?space={quote(space)}&since={quote(cursor)}&limit={limit}"
                response = await conn.request("GET", path)
                assert response is not None
                if response.status != 200:
                    raise SnapshotError(f"GET {path} -> {response.status}: {response.body[:300]!r}")
                page = orjson.loads(response.body)
                changes.extend(page["changes"])
                cursor = page["cursor"]
                if not page.get("more"):
                    break
            feed[space] = changes
    finally:
        await conn.close()
    return feed
