"""`syncserver types`: TypeScript declarations of the declared collections, so that an app's
`sync.collection('todos')` is typed by the collection's schema (docs/collections-cli.md).

One exported type per collection (an interface when its schema is an object's shape), one
per entry of its `$defs`, and an augmentation of the browser client's `CollectionTypes`
(client_sw/src/index.d.ts), which types `collection(name)` for the names it lists.

A schema reads as TypeScript this way: `type` (a list: a union, "null" included),
`properties` and `required` (the others optional, `?`), `additionalProperties` (a schema:
an index signature; absent or true: no index signature, so that a misspelt field is still
caught; an object with no properties at all takes any keys), `enum` and `const` (literal
types), `items` and `prefixItems` (arrays and tuples, the prefix items beyond `minItems`
optional), `anyOf` and `oneOf` (unions), `allOf` (an intersection), `$ref` to `#` or to
`#/$defs/NAME` (the named type), `description` (JSDoc), `deprecated` (@deprecated).
Keywords that only narrow values (`minimum`, `pattern`, `format`, `not`, `if`, ...) leave
the wider type: the server's validation and the client's are what enforce them. What cannot
be expressed (another `$ref`, an unknown type) is `unknown`, with a comment saying why.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any
from urllib.parse import unquote

from ..collections.declared import Declared, load_collections
from ..config.setting_kinds import SettingError
from ..config.settings import Settings, env_name

CLIENT_MODULE = "syncserver-client"  # client_sw/package.json "name"
IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
DEF_REF = re.compile(r"^#/\$defs/([^/]+)$")
OBJECT_KEYWORDS = ("properties", "required", "additionalProperties", "patternProperties")
ARRAY_KEYWORDS = ("items", "prefixItems")
SHAPE_KEYWORDS = ("type", "$ref", "enum", "const", "anyOf", "oneOf", "allOf")
PRIMITIVES = {"string": "string", "number": "number", "integer": "number",
              "boolean": "boolean", "null": "null"}
INDENT = "  "


def pascal(name: str) -> str:
    """A type name from a collection's or a definition's name: todo_items -> TodoItems."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    joined = "".join(w[0].upper() + w[1:] for w in words) or "Data"
    return "T" + joined if joined[0].isdigit() else joined


def property_name(name: str) -> str:
    return name if IDENTIFIER.fullmatch(name) else json.dumps(name)


def jsdoc(schema: Any, indent: str, extra: str = "") -> list[str]:
    """The JSDoc of a schema's description (and `extra`, a paragraph of ours)."""
    if not isinstance(schema, dict):
        return []
    text = schema.get("description")
    paragraphs = [p for p in (text if isinstance(text, str) else "", extra) if p]
    if schema.get("deprecated") is True:
        paragraphs.append("@deprecated")
    if not paragraphs:
        return []
    lines = "\n\n".join(paragraphs).replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def _comment(text: str) -> str:
    return "/* " + text.replace("*/", "*\\/") + " */"


def _wrap(expr: str) -> str:
    """An expression that can stand in a union, an intersection, before [] or ?: in
    parentheses when it is a union or an intersection itself."""
    return f"({expr})" if _top_level_operator(expr) else expr


def _top_level_operator(expr: str) -> bool:
    """Whether `expr` has a | or & outside its brackets, strings and comments."""
    depth, n = 0, 0
    while n < len(expr):
        c = expr[n]
        if c == '"':  # a JSON string: skip to its closing quote
            n += 1
            while expr[n] != '"':
                n += 2 if expr[n] == "\\" else 1
        elif expr.startswith("/*", n):
            n = expr.index("*/", n) + 1
        elif c in "{[(<":
            depth += 1
        elif c in "}])>":
            depth -= 1
        elif c in "|&" and depth == 0:
            return True
        n += 1
    return False


class Writer:
    """The declarations of one file's collections."""

    def __init__(self, declared: Declared) -> None:
        self.declared = declared
        self.taken: set[str] = set()
        self.names: dict[str, str] = {}  # collection -> its type
        self.defs: dict[tuple[str, str], str] = {}  # (collection, $defs name) -> its type
        for name, spec in sorted(declared.collections.items()):
            schema = spec.schema.schema if spec.schema is not None else {}
            title = schema.get("title")
            self.names[name] = self._unique(pascal(title if isinstance(title, str) and title
                                                   else name))
        for name, spec in sorted(declared.collections.items()):
            schema = spec.schema.schema if spec.schema is not None else {}
            for key in sorted(_defs(schema)):
                self.defs[(name, key)] = self._unique(self.names[name] + pascal(key))

    def _unique(self, name: str) -> str:
        chosen, n = name, 1
        while chosen in self.taken:
            n += 1
            chosen = f"{name}{n}"
        self.taken.add(chosen)
        return chosen

    def render(self) -> str:
        d = self.declared
        out = [f"// TypeScript declarations of the collections declared in {_source(d)}",
               f"// (app_version {d.app_version}), written by `syncserver types`: do not edit; "
               "write them again when the file changes.", ""]
        for name, spec in sorted(d.collections.items()):
            schema = spec.schema.schema if spec.schema is not None else {}
            about = f'A record\'s data in collection "{name}" (version {spec.version}).'
            out.extend(self._named(self.names[name], schema, name, about, root=True))
            for key, definition in sorted(_defs(schema).items()):
                out.extend(self._named(self.defs[(name, key)], definition, name,
                                       f'"$defs/{key}" of collection "{name}".'))
        out.append(f'declare module "{CLIENT_MODULE}" {{')
        out.append(f"{INDENT}interface CollectionTypes {{")
        out.extend(f"{INDENT * 2}{property_name(name)}: {self.names[name]};"
                   for name in sorted(d.collections))
        out.extend([f"{INDENT}}}", "}", "", "export {};", ""])
        return "\n".join(out)

    def _named(self, type_name: str, schema: Any, collection: str, about: str,
               root: bool = False) -> list[str]:
        """A named type; `root`: a collection's, whose data is always a JSON object (a
        schema that says nothing of its shape is any object's)."""
        lines = jsdoc(schema, "", about)
        if root and (schema is True or (isinstance(schema, dict) and not any(
                k in schema for k in (*SHAPE_KEYWORDS, *OBJECT_KEYWORDS, *ARRAY_KEYWORDS)))):
            schema = {"type": "object"}
        if isinstance(schema, dict) and self._object_shape(schema):
            members = self._members(schema, collection, INDENT)
            return [*lines, f"export interface {type_name} {{", *members, "}", ""]
        expr = self.expr(schema, collection, "")
        if root and (_top_level_operator(expr) or not expr.startswith("{")):  # data: an object
            expr = f"{_wrap(expr)} & object"
        return [*lines, f"export type {type_name} = {expr};", ""]

    @staticmethod
    def _object_shape(schema: dict[str, Any]) -> bool:
        """Whether the schema is an object's shape alone (an interface can say it)."""
        kinds = schema.get("type", "object" if any(k in schema for k in OBJECT_KEYWORDS)
                           else None)
        return kinds == "object" and not any(k in schema for k in SHAPE_KEYWORDS if k != "type")

    def expr(self, schema: Any, collection: str, indent: str) -> str:
        """A schema as a TypeScript type expression (nested lines indented by `indent`)."""
        if schema is True or schema == {}:
            return "unknown"
        if schema is False:
            return "never"
        if not isinstance(schema, dict):
            return f"unknown {_comment('not a schema')}"
        parts: list[str] = []
        if "$ref" in schema:
            parts.append(self._ref(schema["$ref"], collection))
        if "const" in schema:
            parts.append(json.dumps(schema["const"]))
        elif isinstance(schema.get("enum"), list):
            parts.append(" | ".join(json.dumps(v) for v in schema["enum"]) or "never")
        else:
            base = self._by_type(schema, collection, indent)
            if base is not None:
                parts.append(base)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                union = " | ".join(_wrap(self.expr(s, collection, indent))
                                   for s in schema[key])
                parts.append(union or "never")
        if isinstance(schema.get("allOf"), list):
            parts.extend(self.expr(s, collection, indent) for s in schema["allOf"])
        parts = [p for p in parts if p != "unknown"] or ["unknown"]
        return parts[0] if len(parts) == 1 else " & ".join(_wrap(p) for p in parts)

    def _ref(self, ref: Any, collection: str) -> str:
        if ref == "#":
            return self.names[collection]
        match = DEF_REF.fullmatch(ref) if isinstance(ref, str) else None
        if match is not None:
            key = unquote(match.group(1)).replace("~1", "/").replace("~0", "~")
            if (collection, key) in self.defs:
                return self.defs[(collection, key)]
        return f"unknown {_comment(f'$ref {ref} is not expressed: only # and #/$defs/NAME')}"

    def _by_type(self, schema: dict[str, Any], collection: str, indent: str) -> str | None:
        kinds: Any = schema.get("type")
        if kinds is None:  # no type: the shape its keywords describe, if any
            kinds = ("object" if any(k in schema for k in OBJECT_KEYWORDS) else
                     "array" if any(k in schema for k in ARRAY_KEYWORDS) else None)
            if kinds is None:
                return None
        out = []
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            if kind in PRIMITIVES:
                out.append(PRIMITIVES[kind])
            elif kind == "object":
                out.append(self._object(schema, collection, indent))
            elif kind == "array":
                out.append(self._array(schema, collection, indent))
            else:
                out.append(f"unknown {_comment(f'type {kind!r} is not expressed')}")
        return " | ".join(out)

    def _object(self, schema: dict[str, Any], collection: str, indent: str) -> str:
        members = self._members(schema, collection, indent + INDENT)
        return "{\n" + "\n".join(members) + f"\n{indent}}}" if members else "{}"

    def _members(self, schema: dict[str, Any], collection: str, indent: str) -> list[str]:
        """An object type's members (properties, then the index signature)."""
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = [r for r in schema.get("required", ()) if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties")
        patterns = patterns if isinstance(patterns, dict) else {}
        lines: list[str] = []
        types: list[str] = []
        optional = False
        for name, sub in properties.items():
            text = self.expr(sub, collection, indent)
            types.append(text)
            optional = optional or name not in required
            lines.extend(jsdoc(sub, indent))
            mark = "" if name in required else "?"
            lines.append(f"{indent}{property_name(name)}{mark}: {text};")
        extra_type = None if extra is True else "never" if extra is False else self.expr(
            extra, collection, indent)
        for name in required:
            if name not in properties:
                lines.append(f"{indent}{property_name(name)}: {extra_type or 'unknown'};")
                types.append(extra_type or "unknown")
        if patterns and extra is not True:  # every other key is one of the patterns'
            values = [self.expr(s, collection, indent) for s in patterns.values()]
            extra_type = " | ".join(v for v in [extra_type, *values]
                                    if v is not None and v != "never")
        elif patterns:
            note = "patternProperties: not expressed (any other key is allowed too)"
            lines.append(f"{indent}{_comment(note)}")
        if extra_type is not None and extra_type != "never":
            union = dict.fromkeys(_wrap(t) for t in [extra_type, *types])
            if optional:
                union["undefined"] = None
            lines.append(f"{indent}[key: string]: {' | '.join(union)};")
        elif not properties and not required and not patterns:  # no shape declared
            lines.append(f"{indent}[key: string]: {'unknown' if extra is True else 'never'};")
        return lines

    def _array(self, schema: dict[str, Any], collection: str, indent: str) -> str:
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        if not isinstance(prefix, list):
            return (_wrap(self.expr(items, collection, indent)) + "[]" if items is not None
                    else "unknown[]")
        least = schema.get("minItems", 0)
        least = least if isinstance(least, int) else 0
        elements = [self.expr(s, collection, indent) if n < least
                    else _wrap(self.expr(s, collection, indent)) + "?"
                    for n, s in enumerate(prefix)]
        if items is not False:
            rest = "unknown" if items is None else self.expr(items, collection, indent)
            elements.append(f"...{_wrap(rest)}[]")
        return "[" + ", ".join(elements) + "]"


def _defs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs")
    return defs if isinstance(defs, dict) else {}


def _source(declared: Declared) -> str:
    return declared.source.replace("\\", "/").rsplit("/", 1)[-1] or "the collections file"


def typescript(declared: Declared) -> str:
    """The declarations of a file's collections, as a .d.ts (or .ts) module."""
    return Writer(declared).render()


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The `types` parser (cli.py adds --collections to it)."""
    types: argparse.ArgumentParser = sub.add_parser(
        "types", help="write TypeScript declarations of the declared collections, so that "
                      "the browser client's sync.collection('name') is typed by its schema")
    types.add_argument("-o", "--output", default="-",
                       help="the file to write (default: standard output), e.g. "
                            "src/collections.d.ts")
    return types


def write(settings: Settings, output: str) -> None:
    """`syncserver types`: the declarations of --collections to `output` ("-": stdout)."""
    if not settings.collections:
        raise SettingError("syncserver types reads the collections file: give --collections "
                           f"FILE (or {env_name('collections')})")
    declared = load_collections(settings.collections)  # the settings checked it whole
    text = typescript(declared)
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise SettingError(f"-o {output}: cannot be written ({exc.strerror})") from None
    print(f"syncserver: wrote the types of {len(declared.collections)} collections to "
          f"{output}", file=sys.stderr)
