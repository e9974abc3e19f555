"""A record's change is rendered once, when written (records.change_json), and the feed
sends those bytes as they are: the rendering must stay the documented CHANGE_FORMAT, byte
for byte, whatever shape of code builds it."""

from __future__ import annotations

import orjson
import pytest

from syncserver.model.records import CHANGE_FORMAT, change_json

DATA = '{"title":"caf\u00e9 \\"quoted\\"","n":-12,"nested":{"a":[1,2.5,null]}}'


@pytest.mark.parametrize("deleted", [0, 1, False, True])
@pytest.mark.parametrize("data", [DATA, "{}", None])
def test_change_json_is_the_documented_format(deleted: int, data: str | None) -> None:
    args = ("space-1", "todos.v2", "id:42", 7, 1234567, deleted,
            "1765000000000:00042:client_1", 1765000000123)
    rendered = change_json(*args, data)
    expected = CHANGE_FORMAT % (*args[:5], "true" if deleted else "false", *args[6:],
                                "null" if deleted or data is None else data)
    assert rendered == expected
    parsed = orjson.loads(rendered)
    assert parsed["deleted"] is bool(deleted)
    assert parsed["data"] == (None if deleted or data is None else orjson.loads(data))
    assert (parsed["space"], parsed["seq"], parsed["updated_at"]) == \
        ("space-1", 1234567, 1765000000123)
