"""docs/guarantees.md is the project's own statement of its guarantees: code, tests and
docs cite it, never a design file that is not in the repository, and every test it names
for a guarantee exists (a renamed or deleted test must take its line in the doc along)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from tests.server import REPO

GUARANTEES = REPO / "docs" / "guarantees.md"
# Spelled in two parts so that this file does not cite it.
OUTSIDE_FILE = "DESIGN" + ".md"
REFERENCE = re.compile(r"`((?:tests|client_sw/test)/[\w/.-]+\.(?:py|js))(?:::(\w+))?`")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=False)
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return [REPO / n for n in names if (REPO / n).is_file()]
    # Not a git checkout (an unpacked source archive): every file but the tools' own.
    skip = {".git", ".venv", ".venv-lowest", "node_modules", "__pycache__", ".mypy_cache",
            ".ruff_cache", ".pytest_cache", "test-artifacts"}
    return [p for p in REPO.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(REPO).parts)]


def test_nothing_cites_a_design_file_outside_the_repository() -> None:
    citing = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # icons and other binary files
        if OUTSIDE_FILE in text:
            citing.append(str(path.relative_to(REPO)))
    assert citing == [], (f"{citing} cite {OUTSIDE_FILE}, which is not in the repository: "
                          "cite docs/guarantees.md (with the guarantee's number) instead")


def _guarantees() -> dict[int, str]:
    """The doc's sections by guarantee number."""
    parts = re.split(r"^## (\d+)\. ", GUARANTEES.read_text(), flags=re.M)
    return {int(number): body for number, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_guarantee_is_numbered_in_order_and_names_its_tests() -> None:
    sections = _guarantees()
    assert list(sections) == list(range(1, 15)), list(sections)
    for number, body in sections.items():
        assert REFERENCE.search(body), f"guarantee {number} names no test"


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_the_guarantees_name_exists() -> None:
    missing = []
    for match in REFERENCE.finditer(GUARANTEES.read_text()):
        name, function = match.group(1), match.group(2)
        path = REPO / name
        if not path.is_file():
            missing.append(name)
        elif function and function not in _functions(path):
            missing.append(f"{name}::{function}")
    assert missing == [], f"docs/guarantees.md names tests that do not exist: {missing}"
