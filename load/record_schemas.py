"""The records ``python -m load validators`` validates and pushes: three schemas an app would
declare (JSON Schema 2020-12), each with a valid record and a near miss whose first problem
is known.

- ``todo``: the ~200-byte record of ``python -m load.instructions push-new``, a flat schema;
- ``document``: nested arrays and objects, ``$ref`` to ``$defs``, patterns (~8.5 kB);
- ``large``: 2,000+ rows of a pattern-checked object, just under the record size limit.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import orjson

from load.instructions import DATA
from syncserver.config.settings import Settings

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class Case(NamedTuple):
    name: str
    schema: dict[str, Any]  # JSON Schema 2020-12
    valid: dict[str, Any]
    invalid: dict[str, Any]
    pointer: str  # where `invalid` breaks the schema


TODO = {
    "type": "object", "required": ["title"], "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "done": {"type": "boolean"},
        "n": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "maxItems": 20, "uniqueItems": True,
                 "items": {"type": "string", "maxLength": 40}},
    },
}

DOCUMENT = {
    "type": "object", "required": ["title", "slug", "authors", "sections"],
    "properties": {
        "title": {"type": "string", "maxLength": 300},
        "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
        "updated": {"type": "string",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"},
        "authors": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/person"}},
        "tags": {"type": "array", "uniqueItems": True,
                 "items": {"type": "string", "pattern": "^[a-z]{1,20}$"}},
        "sections": {"type": "array", "items": {"$ref": "#/$defs/section"}},
        "meta": {"type": "object",
                 "additionalProperties": {"type": ["string", "number", "boolean"]}},
    },
    "$defs": {
        "person": {"type": "object", "required": ["name"], "additionalProperties": False,
                   "properties": {"name": {"type": "string", "minLength": 1},
                                  "email": {"type": "string", "pattern": "^[^@ ]+@[^@ ]+$"}}},
        "section": {
            "type": "object", "required": ["heading", "paragraphs"],
            "properties": {
                "heading": {"type": "string", "maxLength": 200},
                "paragraphs": {"type": "array",
                               "items": {"type": "string", "maxLength": 5000}},
                "figures": {"type": "array", "items": {
                    "type": "object", "required": ["src"],
                    "properties": {"src": {"type": "string", "pattern": "^https://"},
                                   "caption": {"type": "string"}}}},
            },
        },
    },
}

LARGE = {
    "type": "object", "required": ["title", "rows"],
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "rows": {"type": "array", "maxItems": 5000, "items": {
            "type": "object", "required": ["sku", "qty", "price"],
            "additionalProperties": False,
            "properties": {"sku": {"type": "string", "pattern": "^SKU-[0-9]{6}$"},
                           "qty": {"type": "integer", "minimum": 0},
                           "price": {"type": "number", "minimum": 0},
                           "note": {"type": "string", "maxLength": 200}}}},
    },
}


def document_record() -> dict[str, Any]:
    paragraph = "A paragraph of about two hundred characters, as a note or a wiki page has. " * 3
    return {
        "title": "Release notes", "slug": "release-notes-2026", "updated": "2026-12-08T10:00:00Z",
        "authors": [{"name": f"Author {i}", "email": f"a{i}@example.org"} for i in range(3)],
        "tags": ["release", "notes", "sync", "offline", "pwa"],
        "sections": [{"heading": f"Section {s}", "paragraphs": [paragraph] * 4,
                      "figures": [{"src": f"https://example.org/{s}.png", "caption": "A figure"}]}
                     for s in range(8)],
        "meta": {"words": 1200, "draft": False, "lang": "en", "rev": 7},
    }


def large_record(limit: int) -> dict[str, Any]:
    """Rows until the data's JSON is within 6 kB of `limit` (the record size limit)."""
    row = {"sku": "SKU-000000", "qty": 3, "price": 12.5, "note": "a row's note " * 4}
    row_bytes = len(orjson.dumps(row)) + 1
    count = (limit - 6_000) // row_bytes
    return {"title": "Inventory", "rows": [{**row, "sku": f"SKU-{i:06d}", "qty": i % 50}
                                           for i in range(count)]}


def cases() -> list[Case]:
    todo = dict(DATA)
    document = document_record()
    broken_document = copy.deepcopy(document)
    broken_document["sections"][5]["paragraphs"][2] = 42
    large = large_record(Settings().max_record_bytes)
    broken_large = copy.deepcopy(large)
    last = len(large["rows"]) - 1
    broken_large["rows"][last]["sku"] = "SKU-12"  # found only after every row before it
    return [Case("todo", TODO, todo, {**todo, "done": "yes"}, "/done"),
            Case("document", DOCUMENT, document, broken_document, "/sections/5/paragraphs/2"),
            Case("large", LARGE, large, broken_large, f"/rows/{last}/sku")]


def draft_07(schema: Any) -> Any:
    """The draft-07 equivalent of our 2020-12 schemas: `$defs` is `definitions` there (their
    other keywords mean the same in both drafts)."""
    if isinstance(schema, list):
        return [draft_07(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {("definitions" if key == "$defs" else key): draft_07(value)
           for key, value in schema.items()}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace("#/$defs/", "#/definitions/")
    return out
