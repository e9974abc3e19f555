"""The browser client checks a record against its collection's schema before queuing it
(client_sw/src/local/schema-check.js), and must answer as the server does
(syncserver/collections/schema.py, jsonschema-rs): never refuse what the server takes, and
refuse what it refuses, at the same place.

Hypothesis draws schemas from a handful of shapes (objects, arrays, strings, numbers,
enums and consts, combinators, if/then/else, $ref into $defs, boolean schemas) and, for
each, documents built to fit it and near misses (one value replaced, a key added or
dropped). One node process runs the client's validator over them (schema_check.mjs); for
every case the verdict must be the server's, and where the server finds exactly one error,
the client's pointer must be its pointer.

Numbers stay within what a JavaScript number holds exactly (2^53), and patterns come from
a list both regex engines read the same way (JavaScript's with the `u` flag, and the
server's ECMA-262 one).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.collections.schema import RecordSchema, compile_schema, pointer_of, schema_problem

HARNESS = Path(__file__).with_name("schema_check.mjs")
# CI: the same 600 cases every run. SCHEMA_EXAMPLES=5000 SCHEMA_RANDOM=1: more, new ones.
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "600"))
RANDOM = bool(os.environ.get("SCHEMA_RANDOM"))

NAMES = ["a", "b", "c", "x1", "xy", "a/b", "t~"]
TEXT = st.text(alphabet="abZ09 é😀٣_", max_size=6)
# (pattern, a string it matches): both engines read these the same way.
PATTERNS = [("^[a-z]+$", "ab"), ("^\\S", "a"), ("^[0-9]{2,3}$", "09"), ("b", "ab"),
            ("^\\w*$", "a_9"), ("^\\d+$", "09"), ("^(a|é)+$", "éa"), ("😀", "a😀"),
            ("^\\p{L}+$", "éZ"), ("^$", "")]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), TEXT,
                    st.sampled_from([0.5, -1.5, 2.0, 0.1, 1e3]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)),
    max_leaves=6)
MULTIPLES = [2, 3, 0.5, 0.25, 0.1, 0.01, 1.5]


def _maybe(draw: st.DrawFn, schema: dict[str, Any], key: str, values: st.SearchStrategy
           ) -> None:
    if draw(st.booleans()):
        schema[key] = draw(values)


@st.composite
def string_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    _maybe(draw, schema, "minLength", st.integers(0, 3))
    _maybe(draw, schema, "maxLength", st.integers(0, 4))
    if draw(st.booleans()):
        schema["pattern"] = draw(st.sampled_from(PATTERNS))[0]
    return schema


@st.composite
def number_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": draw(st.sampled_from(["integer", "number"]))}
    bound = st.one_of(st.integers(-3, 6), st.sampled_from([0.5, 2.25, -1.5]))
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if draw(st.integers(0, 3)) == 0:
            schema[key] = draw(bound)
    _maybe(draw, schema, "multipleOf", st.sampled_from(MULTIPLES))
    return schema


LEAVES = st.one_of(
    st.booleans(),
    st.builds(lambda t: {"type": t}, st.sampled_from(
        ["null", "boolean", "integer", "number", "string", "array", "object"])),
    st.builds(lambda ts: {"type": ts}, st.lists(st.sampled_from(
        ["null", "integer", "string", "object"]), min_size=1, max_size=3, unique=True)),
    string_schema(), number_schema(),
    st.builds(lambda vs: {"enum": vs}, st.lists(JSON, min_size=1, max_size=5)),
    st.builds(lambda v: {"const": v}, JSON),
)


@st.composite
def object_schema(draw: st.DrawFn, inner: st.SearchStrategy) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"} if draw(st.booleans()) else {}
    names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    schema["properties"] = {name: draw(inner) for name in names}
    _maybe(draw, schema, "required", st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    shape = draw(st.integers(0, 9))
    if shape < 3:
        schema["additionalProperties"] = False if shape < 2 else draw(inner)
    elif shape == 3:
        schema["patternProperties"] = {"^x": draw(inner)}
    elif shape == 4:
        schema["propertyNames"] = draw(string_schema())
    elif shape == 5:
        schema["dependentRequired"] = {draw(st.sampled_from(NAMES)):
                                       draw(st.lists(st.sampled_from(NAMES), max_size=2))}
    elif shape == 6:
        schema["dependentSchemas"] = {draw(st.sampled_from(NAMES)): draw(inner)}
    _maybe(draw, schema, "minProperties", st.integers(0, 2))
    _maybe(draw, schema, "maxProperties", st.integers(0, 3))
    return schema


@st.composite
def array_schema(draw: st.DrawFn, inner: st.SearchStrategy) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"} if draw(st.booleans()) else {}
    _maybe(draw, schema, "prefixItems", st.lists(inner, min_size=1, max_size=2))
    _maybe(draw, schema, "items", inner)
    if draw(st.booleans()):
        schema["contains"] = draw(inner)
        _maybe(draw, schema, "minContains", st.integers(0, 2))
        _maybe(draw, schema, "maxContains", st.integers(0, 2))
    _maybe(draw, schema, "minItems", st.integers(0, 2))
    _maybe(draw, schema, "maxItems", st.integers(0, 3))
    _maybe(draw, schema, "uniqueItems", st.booleans())
    return schema


def combined(inner: st.SearchStrategy) -> st.SearchStrategy:
    branches = st.lists(inner, min_size=1, max_size=3)
    return st.one_of(
        object_schema(inner), array_schema(inner),
        st.builds(lambda bs: {"allOf": bs}, branches),
        st.builds(lambda bs: {"anyOf": bs}, branches),
        st.builds(lambda bs: {"oneOf": bs}, branches),
        st.builds(lambda s: {"not": s}, inner),
        st.builds(lambda i, t, e: {"if": i, "then": t, "else": e}, inner, inner, inner),
        st.builds(lambda i, t: {"if": i, "then": t}, inner, inner),
    )


SCHEMAS = st.recursive(LEAVES, combined, max_leaves=8)


@st.composite
def schemas(draw: st.DrawFn) -> Any:
    """A schema of the shapes above; sometimes its part under a property moved into $defs
    and referred to, or the whole of it referred to from the root."""
    schema = draw(SCHEMAS)
    way = draw(st.integers(0, 5))
    if way == 0 and isinstance(schema, dict):
        return {"$defs": {"it": schema}, "$ref": "#/$defs/it"}
    if way == 1:
        name = draw(st.sampled_from(NAMES))
        return {"type": "object", "$defs": {"it": schema},
                "properties": {name: {"$ref": "#/$defs/it"}}, "required": [name]}
    return schema


def fitting(schema: Any, root: Any, depth: int = 0) -> st.SearchStrategy:
    """Documents drawn to fit `schema` (not always: a fit for one branch may break another)."""
    if not isinstance(schema, dict) or depth > 6:
        return JSON
    if schema.get("$ref") == "#/$defs/it":
        return fitting(root["$defs"]["it"], root, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            return st.one_of([fitting(s, root, depth + 1) for s in schema[key]])
    if "if" in schema:
        return st.one_of(fitting(schema["then"], root, depth + 1),
                         fitting(schema.get("else", True), root, depth + 1))
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    if "properties" in schema or "object" in types:
        properties = schema.get("properties", {})
        keys = sorted({*properties, *schema.get("required", [])})
        values = {key: fitting(properties.get(key, True), root, depth + 1) for key in keys}
        return st.fixed_dictionaries({}, optional=values)
    if "prefixItems" in schema or "items" in schema or "array" in types:
        prefix = [fitting(s, root, depth + 1) for s in schema.get("prefixItems", [])]
        rest = st.lists(fitting(schema.get("items", True), root, depth + 1), max_size=3)
        return st.tuples(*prefix).flatmap(lambda head: rest.map(lambda tail: [*head, *tail]))
    if "string" in types:
        pattern = next((match for p, match in PATTERNS if p == schema.get("pattern")), None)
        return st.one_of(TEXT, st.just(pattern)) if pattern is not None else TEXT
    if "integer" in types or "number" in types:
        step = schema.get("multipleOf", 1)
        return st.one_of(st.integers(-8, 8).map(lambda k: round(k * step, 10)),
                         st.integers(-(2**53), 2**53), st.sampled_from([0.5, -2.25, 1e3]))
    return JSON


@st.composite
def near_miss(draw: st.DrawFn, value: Any) -> Any:
    """The value, or it with one place changed: replaced, a key added or dropped."""
    if draw(st.integers(0, 2)) == 0:
        return value
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        changed = dict(value)
        if draw(st.booleans()):
            del changed[key]
        else:
            changed[key] = draw(near_miss(changed[key]))
        return changed
    if isinstance(value, dict) and draw(st.booleans()):
        return {**value, draw(st.sampled_from(NAMES)): draw(JSON)}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], draw(near_miss(value[i])), *value[i + 1:]]
    return draw(JSON)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, Any]:
    schema = draw(schemas())
    data = draw(near_miss(draw(fitting(schema, schema))))
    return schema, data


class ClientValidator:
    """The client's validator in one node process, asked one case a line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["node", str(HARNESS)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def problem(self, schema: Any, data: Any) -> dict[str, str] | None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"schema": schema, "data": data}) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer["error"]
        return answer["problem"]  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def client() -> Iterator[ClientValidator]:
    validator = ClientValidator()
    yield validator
    validator.close()


def server_verdict(schema: Any, data: Any) -> tuple[bool, list[str]]:
    """Whether the server takes `data`, and the pointers of all its errors."""
    if isinstance(schema, dict):  # the server's own path (a collection's schema is an object)
        valid = RecordSchema(schema).problem(data) is None
    else:
        valid = compile_schema(schema).is_valid(data)
    errors = compile_schema(schema).iter_errors(data)
    return valid, [pointer_of(list(e.instance_path)) for e in errors]


def test_the_client_validator_answers_as_the_server(client: ClientValidator) -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(cases())
    def agrees(case: tuple[Any, Any]) -> None:
        schema, data = case
        if isinstance(schema, dict) and schema_problem(schema) is not None:
            return  # a schema the server refuses at start (never served)
        valid, pointers = server_verdict(schema, data)
        problem = client.problem(schema, data)
        assert (problem is None) == valid, (schema, data, problem, pointers)
        seen["valid" if valid else "invalid"] += 1
        if len(pointers) == 1:
            assert problem is not None and problem["pointer"] == pointers[0], (
                schema, data, problem, pointers)
            seen["pointer"] += 1

    agrees()
    # A generator that only ever drew one verdict would test half the question.
    assert seen["valid"] >= EXAMPLES // 5 and seen["invalid"] >= EXAMPLES // 5, seen
    assert seen["pointer"] >= EXAMPLES // 10, seen
