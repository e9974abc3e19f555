"""Every third-party import is declared in pyproject.toml, where the code that imports it is
installed from: a fresh machine has only what the declarations bring (requirements/test.txt is
written from them), so an undeclared import fails a user before it fails us.

- syncserver/ and migrations/ import only the runtime dependencies, or an extra named for its room
  (the PostgreSQL backend: [postgresql]);
- load/ (the load tool, `pip install '.[load]'`) imports the runtime dependencies, [load],
  or, for the driver benchmark and the PostgreSQL runs, [bench] and [postgresql];
- tests/ imports the runtime dependencies and [test]; the tests run the load tool, so [test]
  covers load/'s imports as well.

Which distribution gives a module comes from the installed packages' own metadata."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.server import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# The groups each folder may import from ("runtime" is [project] dependencies).
ALLOWED: dict[str, tuple[str, ...]] = {
    "syncserver": ("runtime", "postgresql"),
    "migrations": ("runtime",),
    "load": ("runtime", "load", "bench", "postgresql"),
    "tests": ("runtime", "test"),
}


def _name(requirement: str) -> str:
    """`psycopg[binary]>=3.2` -> `psycopg` (PEP 503 normalised)."""
    bare = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def declared(group: str) -> set[str]:
    if group == "runtime":
        return {_name(r) for r in PYPROJECT["dependencies"]}
    return {_name(r) for r in PYPROJECT["optional-dependencies"][group]}


def _local_names() -> set[str]:
    names = {p.name for p in REPO.iterdir() if p.is_dir()}
    for folder in ALLOWED:
        names |= {p.stem for p in (REPO / folder).rglob("*.py")}
    return names


def imports(folder: str) -> Iterator[tuple[str, Path]]:
    """(top-level module, file) for every absolute import under REPO/folder."""
    for path in sorted((REPO / folder).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                yield module.split(".")[0], path


def third_party(folder: str) -> dict[str, Path]:
    local = _local_names()
    found: dict[str, Path] = {}
    for module, path in imports(folder):
        if module in sys.stdlib_module_names or module in local or module == "__future__":
            continue
        found.setdefault(module, path)
    return found


def distributions_of(module: str) -> set[str]:
    return {_name(d) for d in packages_distributions().get(module, [])}


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_every_third_party_import_is_declared(folder: str) -> None:
    allowed = set().union(*(declared(group) for group in ALLOWED[folder]))
    problems = []
    for module, path in sorted(third_party(folder).items()):
        where = path.relative_to(REPO)
        dists = distributions_of(module)
        if not dists:
            problems.append(f"{module} ({where}): no installed distribution provides it")
        elif not dists & allowed:
            problems.append(f"{module} ({where}): from {sorted(dists)}, declared in none of "
                            f"{list(ALLOWED[folder])}")
    assert not problems, (
        "undeclared imports; add each to the right list in pyproject.toml, then run "
        "scripts/lock:\n" + "\n".join(problems))


def test_the_tests_extra_covers_what_the_load_tool_imports() -> None:
    allowed = declared("runtime") | declared("test")
    missing = sorted(m for m in third_party("load") if not distributions_of(m) & allowed)
    assert not missing, f"the tests run the load tool: add to [test] what provides {missing}"


def test_the_check_notices_an_undeclared_import() -> None:
    # The check itself: a module that is installed (pytest) but declared in no runtime
    # group would be reported for syncserver/.
    allowed = declared("runtime") | declared("postgresql")
    assert distributions_of("pytest") and not distributions_of("pytest") & allowed
    assert distributions_of("starlette") & allowed
