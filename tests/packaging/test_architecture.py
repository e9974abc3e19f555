"""The floor plan (docs/architecture.md): syncserver/ is divided into rooms, sub-packages
ranked from the bottom up, and an import may only go down or stay in its room. No module,
of the server or of the load tool, takes part in an import cycle.

The graph is built from the code's own imports, read with ast: module-level, function-level
and `if TYPE_CHECKING:` imports alike (a type named from an upper room is a dependency on
it too). Nothing is imported to build it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.server import REPO

# Bottom first. Each room's __init__.py docstring says "May import: ..." with the rooms
# below it, in this order (checked below): the order is declared here once.
ROOMS = ["model", "collections", "config", "storage", "guard", "core", "webpush", "transport",
         "ops"]
# The package's own top-level files, above every room: nothing in a room imports them.
TOP = {"syncserver", "syncserver.__main__"}
PACKAGES = ["syncserver", "load"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known
                       else source for alias in node.names]
        for target in targets:
            # `import a.b.c` runs a.b.c; the nearest module of ours it names is the edge
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def room(module: str) -> str | None:
    """The room of a module of syncserver; None for the package's top-level files."""
    if module in TOP:
        return None
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in ROOMS else "(no room)"


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_every_module_of_the_server_is_in_a_room() -> None:
    homeless = [m for m in graph() if m.startswith("syncserver") and room(m) == "(no room)"]
    assert not homeless, f"modules in no room (put each in one of {ROOMS}): {homeless}"


def test_imports_only_go_down() -> None:
    upward = []
    for module, targets in graph().items():
        if not module.startswith("syncserver"):
            continue
        here = room(module)
        for target in targets:
            there = room(target)
            if not target.startswith("syncserver") or here is None or there == here:
                continue
            if there is None or there not in ROOMS or here not in ROOMS \
                    or ROOMS.index(there) > ROOMS.index(here):
                upward.append(f"{module} ({here}) imports {target} ({there})")
    assert not upward, "imports from a lower room to a higher one:\n" + "\n".join(
        sorted(upward))


def test_each_room_says_what_it_may_import() -> None:
    for rank, name in enumerate(ROOMS):
        init = REPO / "syncserver" / name / "__init__.py"
        assert init.exists(), f"no room {name}/"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        said = re.search(r"May import: ([^.]*)\.", doc)
        assert said, f"{init}: its docstring says what lives there and 'May import: ...'"
        listed = [word.strip() for word in said.group(1).split(",")]
        assert listed == (ROOMS[:rank] or ["nothing of ours"]), (init, listed)


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text("from __future__ import annotations\n"
                    "from typing import TYPE_CHECKING\n"
                    "import json\n"
                    "from . import a\n"
                    "from .b import thing\n"
                    "import p.c\n"
                    "if TYPE_CHECKING:\n"
                    "    from ..q import d\n"
                    "def f():\n"
                    "    from .e import g\n")
    known = {name: path for name in ["p", "p.c", "p.q", "p.q.d", "p.x", "p.x.mod", "p.x.a",
                                     "p.x.b", "p.x.e"]}
    assert imported("p.x.mod", path, known) == {"p.x.a", "p.x.b", "p.c", "p.q.d", "p.x.e"}


def test_the_server_never_imports_the_load_tool() -> None:
    """load/ drives the server from outside (and imports its vocabulary); never the reverse."""
    inward = [f"{m} imports {t}" for m, targets in graph().items() if m.startswith("syncserver")
              for t in targets if not t.startswith("syncserver")]
    assert not inward, inward
