"""README's commands paste as they are: no placeholder characters, and the curl examples,
run against a real server, answer what README shows (cursors and timestamps aside, whose
format is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import orjson
import pytest

from tests.server import REPO

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
CURSOR = re.compile(r"^(\d+)\.[0-9a-f]{12}\.[A-Za-z0-9_-]{12}$")
MARK = "@@@ next command @@@"


def commands_and_outputs(block: str) -> list[tuple[str, str]]:
    """(command lines, the output shown after them as `# {...` comment lines)."""
    steps: list[tuple[list[str], list[str]]] = []
    in_output = False
    for line in block.splitlines():
        if not line.startswith("#"):
            if not steps or steps[-1][1] or in_output:
                steps.append(([], []))
            in_output = False
            steps[-1][0].append(line)
        elif line.startswith("# {") or (in_output and line.startswith("#  ")):
            in_output = True
            steps[-1][1].append(line[2:])
        else:
            in_output = False  # prose
    return [("\n".join(c), "".join(o)) for c, o in steps if "".join(c).strip()]


def normalized(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalized(v, k if key != "cursors" else "cursor") for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if key == "cursor":
        match = CURSOR.match(value)
        assert match, f"{value!r} is not a cursor"
        return f"<cursor at {match.group(1)}>"
    if key == "updated_at":
        assert isinstance(value, int)
        return "<ms>"
    return value


def test_readme_commands_have_no_placeholders():
    for block in BLOCKS:
        for line in block.splitlines():
            if not line.lstrip().startswith("#"):
                assert "…" not in line and "..." not in line, line


def test_readme_quick_start_is_one_command_with_dev_mode():
    quick = README[README.index("## Quick start"):README.index("## Try the API with curl")]
    block = re.search(r"```bash\n(.*?)```", quick, re.S)
    assert block is not None
    assert block.group(1).strip() == "pip install -e . && syncserver serve --dev"


def test_readme_curl_examples_answer_what_readme_shows(server_factory):
    live_server = server_factory(args=("--dev",))  # the quick start's server
    section = README[README.index("## Try the API with curl"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    steps = commands_and_outputs(block.group(1))
    assert len(steps) >= 3 and all(out for _, out in steps), steps
    script = f"\necho '{MARK}'\n".join(command for command, _ in steps)
    # Only the address (a free port here) and the long-poll time differ from README.
    script = script.replace("http://127.0.0.1:8000", live_server.url)
    script = script.replace("wait=30", "wait=1")
    assert "syncserver token --dev " in script
    script = script.replace("syncserver token --dev ",
                            f"{sys.executable} -m syncserver token --dev --db {live_server.db} ")
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.split(MARK + "\n")
    assert len(outputs) == len(steps), done.stdout
    for (command, shown), got in zip(steps, outputs, strict=True):
        try:
            expected = orjson.loads(shown)
        except orjson.JSONDecodeError:
            pytest.fail(f"README shows output that is not JSON after {command!r}: {shown!r}")
        assert normalized(orjson.loads(got)) == normalized(expected), command


def test_no_tracked_file_points_at_a_path_outside_the_repository():
    """A reader of a fresh clone has no /work/shared or ../shared: docs, comments and tests
    name files inside the repository only."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    outside = re.compile(r"/work/|\.\./shared/")
    found = []
    for name in files:
        path = REPO / name
        if path.suffix not in {".py", ".md", ".js", ".mjs", ".ts", ".html", ".toml", ".ini",
                               ".json", ".sh", ""} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line) and name != "tests/core/test_readme.py":
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "references to paths outside the repository:\n" + "\n".join(found)
