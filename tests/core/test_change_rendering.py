"""A record's change is rendered once, when written (records.change_json), and the feed
sends those bytes as they are. The same shape is rendered in SQL too (storage/sqlite/feed.py
CHANGE_JSON: migration 0004 filled in the rows written before, and a page falls back to it
for a row without its change): the two must agree byte for byte, whatever shape of code
builds either."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from syncserver.model.records import change_json
from syncserver.storage.sqlite.feed import CHANGE_JSON

DATA = '{"title":"caf\u00e9 \\"quoted\\"","n":-12,"nested":{"a":[1,2.5,null]}}'


def rendered_in_sql(space: str, collection: str, record_id: str, version: int, seq: int,
                    deleted: int, hlc: str, updated_at: int, data: str | None) -> str:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE records (space, collection, id, version, seq, deleted, hlc, "
                 "updated_at, data)")
    conn.execute("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)",
                 (space, collection, record_id, version, seq, int(deleted), hlc, updated_at,
                  data))
    (text,) = conn.execute(f"SELECT {CHANGE_JSON} FROM records").fetchone()
    conn.close()
    return str(text)


@pytest.mark.parametrize("deleted", [0, 1, False, True])
@pytest.mark.parametrize("data", [DATA, "{}", None])
def test_change_json_renders_what_the_sql_renders(deleted: int, data: str | None) -> None:
    args = ("space-1", "todos.v2", "id:42", 7, 1234567, deleted,
            "1765000000000:00042:client_1", 1765000000123)
    rendered = change_json(*args, data)
    assert rendered == rendered_in_sql(*args, data)
    parsed = orjson.loads(rendered)
    assert parsed["deleted"] is bool(deleted)
    assert parsed["data"] == (None if deleted or data is None else orjson.loads(data))
    assert (parsed["space"], parsed["id"], parsed["seq"], parsed["updated_at"]) == \
        ("space-1", "id:42", 1234567, 1765000000123)
