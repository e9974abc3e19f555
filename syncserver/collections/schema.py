"""A collection's JSON Schema (2020-12), compiled once, and what a record's data breaks of it.

The validator is jsonschema-rs: about 0.3 us of CPU for a small valid record (1.5% of its
push), where the pure-Python `jsonschema` takes about 36 us (more than a whole push of the
record) and fastjsonschema has no 2020-12 (`python -m load validators` measures them;
docs/benchmarks.md). A valid record, the common case, costs one `is_valid` call; the errors
are looked for only when it fails.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jsonschema_rs

DIALECT = "https://json-schema.org/draft/2020-12/schema"


class SchemaProblem(NamedTuple):
    """Where a record's data breaks its schema: an RFC 6901 pointer into the data ("" is the
    data itself) and the validator's words."""

    pointer: str
    message: str


def pointer_of(path: list[str | int]) -> str:
    """The RFC 6901 JSON pointer of a path of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class RecordSchema:
    """One collection's schema, compiled. `schema` is the JSON Schema as declared."""

    __slots__ = ("_validator", "schema")

    def __init__(self, schema: dict[str, Any]) -> None:
        problem = schema_problem(schema)
        if problem is not None:
            raise ValueError(problem)
        self.schema = schema
        self._validator = compile_schema(schema)

    def problem(self, data: Any) -> SchemaProblem | None:
        """The first place where `data` breaks the schema (None: it validates)."""
        if self._validator.is_valid(data):
            return None
        for error in self._validator.iter_errors(data):
            return SchemaProblem(pointer_of(list(error.instance_path)), error.message)
        return None  # is_valid and iter_errors disagree: never seen; the record passes


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a JSON Schema 2020-12 this server can use (None: it is)."""
    if not isinstance(schema, dict):
        return "a schema is a JSON object (a table in TOML)"
    declared = schema.get("$schema", DIALECT)
    if declared != DIALECT:
        return (f"$schema is {declared!r}: only JSON Schema 2020-12 ({DIALECT}) is read; "
                "remove $schema or set it to that")
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        where = pointer_of(list(exc.instance_path)) or "the schema itself"
        return f"not a valid JSON Schema 2020-12 at {where}: {exc.message}"
    try:
        compile_schema(schema)
    except jsonschema_rs.ValidationError as exc:
        return f"the schema cannot be compiled: {exc.message}"
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        return f"the schema cannot be compiled: {exc}"
    return None


def _no_fetching(uri: str) -> Any:
    raise ValueError("this server fetches no schema from elsewhere: put what the $ref names "
                     "under the schema's $defs and refer to it as #/$defs/<name>")


def compile_schema(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    """The validator of `schema`; a $ref outside the schema is refused, never fetched."""
    return jsonschema_rs.Draft202012Validator(schema, retriever=_no_fetching)
