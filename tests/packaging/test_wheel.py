"""The wheel is what a user of a published package installs. Built from a copy of the source
tree and installed into a fresh virtual environment outside it, it must migrate a new
database, serve the API, the client library at /sync/ and the demo at /, and say its versions,
with nothing of the source tree at hand; `python -m load` runs from it in any directory.

Each test takes about 10 s on a 2-core machine (up to 25 s while other work loads it):
building the wheel (or the editable install) ~4 s, the venv and installing ~2 s, the
server's start and the requests the rest."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from syncserver.model.version import PROTOCOL_VERSION
from tests.helpers import mutation, pull_all, push
from tests.server import REPO, ServerProcess

pytestmark = pytest.mark.timeout(180)

# Neither the source tree's build leftovers (a stale build/ would be packed again) nor the
# client's dependencies, git, caches (all the dot directories) or local databases belong in
# the copy the wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(
    ".*", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts",
    "load-report*", "*.db", "*.db-*")

# A PYTHONPATH naming a source tree would make the venv import that tree's syncserver.
NO_SOURCE_ON_PATH = {"PYTHONPATH": ""}


def run(args: list, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **NO_SOURCE_ON_PATH}, timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def copy_source(source: Path) -> None:
    """A copy of the tree, with a client dependency installed as a developer has it, so that
    the wheel's leaving node_modules out is checked, not assumed."""
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    planted = source / "client_sw" / "node_modules" / "planted"
    planted.mkdir(parents=True)
    (planted / "index.js").write_text("export const planted = true;\n")


def build_wheel(source: Path, dist: Path) -> Path:
    copy_source(source)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source],
        cwd=source)
    (wheel,) = dist.glob("syncserver-*.whl")
    return wheel


def assert_wheel_holds_the_package_and_its_files(wheel: Path, source: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{package}/" + p.relative_to(source / package).as_posix()
                for package in ("syncserver", "load") for p in (source / package).rglob("*.py")}
    expected |= {"syncserver/_migrations/" + p.relative_to(source / "migrations").as_posix()
                 for p in (source / "migrations").rglob("*") if p.is_file()}
    # the package files `python -m load vs pouchdb` installs its peer from
    expected |= {f"load/peers/pouchdb/{name}" for name in ("package.json", "package-lock.json")}
    for part in ("src", "demo"):
        expected |= {f"syncserver/_client/{part}/" + p.relative_to(source / "client_sw" / part)
                     .as_posix() for p in (source / "client_sw" / part).rglob("*")
                     if p.is_file()}
    assert expected - names == set(), "files missing from the wheel"
    strays = {n for n in names if "node_modules" in n or n.startswith("syncserver/_client/test")}
    assert strays == set(), "the client's dependencies or tests are in the wheel"


def make_venv(where: Path, *install: str | Path, code_in: Path) -> Path:
    """A fresh venv with `pip install *install`; checks that its python imports syncserver
    from `code_in`.

    It sees the dependencies (and pip) that the tests run with, wherever those are installed
    (the system's site-packages or a developer's own venv, which --system-site-packages
    would miss): the running interpreter's site directories go on its path after its own,
    as plain paths, so their .pth files (e.g. the tests' own editable syncserver) are not
    run. Nothing is downloaded but the build's setuptools, and no pip is installed in it
    (4 s saved): the one it sees installs into it, as its python runs that pip."""
    run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent)
    own = sysconfig.get_path("purelib", scheme="venv", vars={"base": str(where)})
    seen = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE
                                       else [])]
    (Path(own) / "tests_dependencies.pth").write_text("\n".join(seen) + "\n")
    python = where / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
         *install], cwd=where.parent)
    imported = run([python, "-c", "import syncserver; print(syncserver.__file__)"],
                   cwd=where.parent).strip()
    assert Path(imported).is_relative_to(code_in), f"the venv imports syncserver from {imported}"
    return where / "bin" / "syncserver"


def test_the_wheel_installed_in_a_fresh_venv_migrates_serves_the_api_client_and_demo(
        tmp_path: Path) -> None:
    source, home = tmp_path / "source", tmp_path / "home"
    home.mkdir()
    assert not tmp_path.is_relative_to(REPO)
    wheel = build_wheel(source, tmp_path / "dist")
    assert_wheel_holds_the_package_and_its_files(wheel, source)
    syncserver = make_venv(tmp_path / "venv", "--no-index", wheel, code_in=tmp_path / "venv")
    version = tomllib.loads((source / "pyproject.toml").read_text())["project"]["version"]

    said = run([syncserver, "--version"], cwd=home).strip()
    assert said == f"syncserver {version} (protocol {PROTOCOL_VERSION})"
    # the load tool comes with it (`pip install '.[load]'`), runnable from any directory
    python = tmp_path / "venv" / "bin" / "python"
    assert "usage: python -m load" in run([python, "-m", "load", "--help"], cwd=home)
    where = run([python, "-c", "import load; print(load.__file__)"], cwd=home).strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), where

    # The README's quick start: `syncserver serve --dev`, the demo getting dev tokens.
    server = ServerProcess(home / "sync.db", demo=True, command=[str(syncserver)], cwd=home,
                           env=NO_SOURCE_ON_PATH, args=["--dev"])
    try:
        server.start(timeout=60)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            health = http.get("/healthz").json()
            assert health["version"] == version and health["protocol"] == PROTOCOL_VERSION
            dev = http.post("/v1/dev/token", json={"sub": "alice", "spaces": ["wheel"]})
            assert dev.status_code == 200, dev.text
            http.headers["authorization"] = f"Bearer {dev.json()['token']}"

            push(http, "c1", [mutation(1, "a", space="wheel", data={"title": "from a wheel"})])
            state, _ = pull_all(http, space="wheel")
            assert state[("todos", "a")]["data"] == {"title": "from a wheel"}

            library = http.get("/sync/index.js")
            assert library.status_code == 200
            assert "javascript" in library.headers["content-type"]
            assert library.text == (source / "client_sw" / "src" / "index.js").read_text()

            demo = http.get("/")
            assert demo.status_code == 200
            assert demo.text == (source / "client_sw" / "demo" / "index.html").read_text()
    finally:
        server.stop()
    assert (home / "sync.db").is_file()


def test_an_editable_install_serves_the_checkouts_own_migrations_and_client(
        tmp_path: Path) -> None:
    """`pip install -e .` runs the checkout's code: its files come from the same checkout,
    whatever the working directory."""
    source, home = tmp_path / "source", tmp_path / "home"
    home.mkdir()
    copy_source(source)
    syncserver = make_venv(tmp_path / "venv", "-e", source, code_in=source)
    python = tmp_path / "venv" / "bin" / "python"
    found = run([python, "-c", "from syncserver.config import resources; "
                 "print(resources.migrations_dir()); print(resources.client_dir())"], cwd=home)
    assert found.split() == [str(source / "migrations"), str(source / "client_sw")]
    run([syncserver, "migrate", "--db", home / "sync.db"], cwd=home)
    assert (home / "sync.db").is_file()
