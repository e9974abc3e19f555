"""`syncserver types` (ops/typescript.py): the declarations it writes for a rich schema type-check
an app that uses `sync.collection('todos')` with the browser client's own TypeScript
(client_sw, `npm ci` there), and a wrong use of the collection fails that check."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from syncserver.collections.declared import parse_collections
from syncserver.ops.typescript import CLIENT_MODULE, typescript
from tests.core.cli_support import run_syncserver
from tests.server import REPO

CLIENT = REPO / "client_sw"
TSC = CLIENT / "node_modules" / "typescript" / "bin" / "tsc"

RICH = """
app_version = 2

[collections.todos]
version = 2

[collections.todos.schema]
title = "Todo"
description = "Something to do. */ is no end of this comment."
type = "object"
required = ["title", "done"]
additionalProperties = false
properties.title = { type = "string", maxLength = 200, description = "What to do." }
properties.done = { type = "boolean" }
properties.priority = { enum = ["low", "high", 3] }
properties.kind = { const = "todo" }
properties.tags = { type = "array", items = { type = "string" } }
properties.note = { type = ["string", "null"] }
properties.assignee = { "$ref" = "#/$defs/person" }
properties.parent = { "$ref" = "#" }
properties.due = { anyOf = [{ type = "string", format = "date" }, { type = "integer" }] }
properties.scores = { type = "object", additionalProperties = { type = "number" } }
properties.extra = { type = "object" }
properties.due-date = { type = "string", deprecated = true, description = "Old.\\nUse due." }
properties.elsewhere = { "$ref" = "#/properties/title" }

[collections.todos.schema.properties.at]
type = "array"
minItems = 2
items = false
prefixItems = [{ type = "number" }, { type = "number" }, { type = ["string", "null"] }]

[collections.todos.schema.properties.reviewer]
allOf = [
  { "$ref" = "#/$defs/person" },
  { type = "object", properties.rank = { type = "integer" } },
]

[collections.todos.schema.properties.shape]
oneOf = [
  { type = "object", properties.r = { type = "number" }, required = ["r"] },
  { type = "object", properties.w = { type = "number" } },
]

[collections.todos.schema."$defs".person]
type = "object"
required = ["name"]
properties.name = { type = "string" }
properties.email = { type = ["string", "null"] }

[collections.notes]

[collections.my-lists.schema]
anyOf = [
  { type = "object", properties.items = { type = "array" }, required = ["items"] },
  { type = "null" },
]

[collections.labels.schema]
type = "object"
required = ["name"]
properties.name = { type = "string" }
properties.weight = { type = "number" }
additionalProperties = { type = "boolean" }
"""

GOOD = """
import { createSyncClient } from 'syncserver-client';
import type { Todo, TodoPerson } from './collections';

const sync = await createSyncClient({ url: '/', space: 'team' });
const todos = sync.collection('todos');
const person: TodoPerson = { name: 'Ada', email: null };
await todos.put('t1', {
  title: 'Write the report', done: false, priority: 3, kind: 'todo', tags: ['work'],
  at: [1.5, 2], note: null, assignee: person, due: 20250101,
  reviewer: { name: 'Bo', rank: 1 }, scores: { a: 1 }, extra: { any: ['thing'] },
  'due-date': '2025-01-01', shape: { r: 2 },
});
await todos.put('t2', {
  title: 'x', done: true, at: [0, 0, 'origin'], parent: { title: 'p', done: false },
});
await todos.patch('t1', { done: true, note: null });
const stored = await todos.get('t1');
const title: string | undefined = stored?.data.title;
const whole: Todo | undefined = stored?.data;
await sync.space('team').collection('labels').put('l1', { name: 'red', urgent: true });
await sync.collection('my-lists').put('l', { items: [] });
await sync.collection('notes').put('n', { anything: [1, { goes: true }] });
await sync.collection('undeclared').put('u', { whatever: 1 });  // no declared type: as before
export { title, whole };
"""

# Each wrong use, and the error tsc must give for it on its line.
WRONG = [
    ("await todos.put('a', { title: 'x', done: 'yes' });",
     "TS2322: Type 'string' is not assignable to type 'boolean'."),
    ("await todos.put('b', { done: true });",
     "Property 'title' is missing in type '{ done: true; }' but required in type 'Todo'."),
    ("await todos.put('c', { title: 'x', done: true, tilte: 'typo' });",
     "'tilte' does not exist in type 'Todo'"),
    ("await todos.put('d', { title: 'x', done: true, priority: 'medium' });",
     "TS2322: Type '\"medium\"' is not assignable to type"),
    ("await todos.patch('e', { title: 5 });", "TS2322: Type 'number' is not assignable to type"),
    ("await sync.collection('labels').put('f', { name: 'red', weight: 'heavy' });",
     "TS2322: Type 'string' is not assignable to type 'number'."),
]


def _tsc(app: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    assert TSC.exists(), "the client's TypeScript is missing: run `npm ci` in client_sw"
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "strict": True, "noEmit": True, "target": "ES2022", "module": "ESNext",
        "moduleResolution": "bundler", "lib": ["ES2022", "DOM"], "types": []},
        "files": files}))
    return subprocess.run(["node", str(TSC), "-p", "tsconfig.json"], cwd=app, check=False,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app folder with the client installed (a link, as `npm install ../client_sw` makes)
    and the declarations `syncserver types -o` wrote for RICH."""
    (tmp_path / "collections.toml").write_text(RICH)
    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)
    os.symlink(CLIENT, app / "node_modules" / CLIENT_MODULE)
    done = run_syncserver(["types", "--collections", str(tmp_path / "collections.toml"),
                           "-o", str(app / "collections.d.ts")])
    assert done.returncode == 0, done.stderr
    assert "wrote the types of 4 collections" in done.stderr
    return app


def test_the_declarations_type_an_app_that_uses_its_collections_right(app: Path) -> None:
    (app / "good.ts").write_text(GOOD)
    done = _tsc(app, ["good.ts", "collections.d.ts"])
    assert done.returncode == 0, done.stdout + (app / "collections.d.ts").read_text()


def test_a_wrong_use_of_a_declared_collection_fails_the_type_check(app: Path) -> None:
    lines = [*GOOD.splitlines()[:6], *(use for use, _ in WRONG)]
    (app / "wrong.ts").write_text("\n".join(lines) + "\nexport {};\n")
    done = _tsc(app, ["wrong.ts", "collections.d.ts"])
    assert done.returncode != 0
    errors = done.stdout
    by_line = {int(n): text for n, text in
               re.findall(r"^wrong\.ts\((\d+),\d+\): (.*(?:\n .*)*)", errors, re.M)}
    for n, (_use, error) in enumerate(WRONG, start=7):
        assert error in by_line.get(n, ""), f"line {n}: {error!r} not in:\n{errors}"
    assert errors.count("error TS") == len(WRONG), errors


def test_the_declarations_say_each_schema_construct() -> None:
    text = typescript(parse_collections(__import__("tomllib").loads(RICH), "rich.toml"))
    for expected in [
        "export interface Todo {",
        "  /** What to do. */\n  title: string;",
        "  done: boolean;",
        '  priority?: "low" | "high" | 3;',
        '  kind?: "todo";',
        "  tags?: string[];",
        "  at?: [number, number, (string | null)?];",  # beyond minItems: optional; no rest
        "  note?: string | null;",
        "  assignee?: TodoPerson;",
        "  parent?: Todo;",
        "  due?: string | number;",
        "  reviewer?: TodoPerson & {\n    rank?: number;\n  };",
        "  scores?: {\n    [key: string]: number;\n  };",
        "  extra?: {\n    [key: string]: unknown;\n  };",
        "  /**\n   * Old.\n   * Use due.\n   *\n   * @deprecated\n   */\n  \"due-date\"?: string;",
        "  elsewhere?: unknown /* $ref #/properties/title is not expressed",
        " * Something to do. *\\/ is no end of this comment.",
        "export interface TodoPerson {\n  name: string;\n  email?: string | null;\n}",
        "export interface Notes {\n  [key: string]: unknown;\n}",  # no schema: any object
        "export type MyLists = ({\n  items: unknown[];\n} | null) & object;",  # data: an object
        # additionalProperties as a schema: the index signature holds every property's type
        "  [key: string]: boolean | string | number | undefined;",
        f'declare module "{CLIENT_MODULE}" {{\n  interface CollectionTypes {{\n'
        '    labels: Labels;\n    "my-lists": MyLists;\n    notes: Notes;\n    todos: Todo;\n'
        "  }\n}",
        "export {};",  # a module: the block augments the client's, never replaces it
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"
    todo = text.split("export interface Todo {")[1].split("\n}")[0]
    assert "\n  [key: string]" not in todo  # additionalProperties false: no other key


def test_names_stay_distinct() -> None:
    declared = parse_collections({"collections": {
        "todo": {"schema": {"type": "object", "$defs": {"item": {"type": "string"}}}},
        "todo_item": {},
        "tasks": {"schema": {"title": "Todo", "type": "object"}},
        "2fa": {}}})
    text = typescript(declared)
    assert "export interface T2fa {" in text
    assert "export interface Todo2 {" in text and "export interface Todo {" in text
    assert "export interface TodoItem {" in text and "export type Todo2Item = string;" in text


def test_the_module_augmented_is_the_client_package() -> None:
    assert json.loads((CLIENT / "package.json").read_text())["name"] == CLIENT_MODULE
    index = (CLIENT / "src" / "index.d.ts").read_text()
    assert "export interface CollectionTypes {}" in index
    assert index.count("collection<K extends keyof CollectionTypes>(name: K): "
                        "Collection<CollectionTypes[K]>;") == 2


def test_types_without_a_collections_file_or_with_a_bad_one_exits_2(tmp_path: Path) -> None:
    done = run_syncserver(["types"])
    assert done.returncode == 2 and "give --collections FILE" in done.stderr, done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"collections": {"todos": {"schema": {"type": "nope"}}}}')
    done = run_syncserver(["types", "--collections", str(bad)])
    assert done.returncode == 2 and "collections.todos.schema" in done.stderr, done.stderr
    assert done.stdout == ""
