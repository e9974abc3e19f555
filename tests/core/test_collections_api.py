"""GET /v1/collections over a real server: the declaration of the collections file as the
file says it (schemas untouched), `declared: false` without a file, a strong ETag that is
the same for the same file in another process and changes with the file, 304 to an
If-None-Match that names it, Cache-Control no-cache, and auth as the other reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from syncserver.collections.declared import load_collections
from tests.helpers import assert_problem
from tests.server import ServerProcess

FILE = """\
app_version = 3
min_app_version = 2
undeclared = "reject"

[collections.todos]
policy = "lww"
version = 3

[collections.todos.schema]
type = "object"
required = ["title"]
additionalProperties = false
properties.title = { type = "string", maxLength = 200, pattern = "^\\\\S" }
properties.done = { type = "boolean" }

[collections.notes]
"""
SECRET = "collections-api-secret-" + "c" * 32


@pytest.fixture(scope="module")
def declared_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("declared") / "collections.toml"
    path.write_text(FILE)
    return path


@pytest.fixture(scope="module")
def declaring(declared_file: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(declared_file.with_name("sync.db"),
                           env={"SYNCSERVER_COLLECTIONS": str(declared_file)}).start()
    yield server
    server.stop()


def test_without_a_file_the_server_declares_nothing(http: httpx.Client) -> None:
    r = http.get("/v1/collections")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"declared": False, "app_version": 1, "min_app_version": 1,
                        "undeclared": "allow", "collections": {}}
    assert r.headers["cache-control"] == "no-cache"
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"'), "a strong ETag"


def test_the_file_is_served_as_declared(declaring: ServerProcess, declared_file: Path) -> None:
    r = httpx.get(declaring.url + "/v1/collections", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body == load_collections(declared_file).served()
    assert body["declared"] is True and body["undeclared"] == "reject"
    assert (body["app_version"], body["min_app_version"]) == (3, 2)
    todos = body["collections"]["todos"]
    assert todos["schema"]["properties"]["title"] == {
        "type": "string", "maxLength": 200, "pattern": "^\\S"}
    assert (todos["policy"], todos["version"], todos["read"]) == ("lww", 3, ["*"])
    # A collection declared with nothing: any object, the server's policy, everyone.
    assert body["collections"]["notes"] == {
        "policy": None, "version": 1, "schema": None,
        "read": ["*"], "create": ["*"], "update": ["*"], "delete": ["*"]}


def test_if_none_match_of_the_current_etag_is_answered_304(declaring: ServerProcess) -> None:
    with httpx.Client(base_url=declaring.url, timeout=10) as http:
        first = http.get("/v1/collections")
        etag = first.headers["etag"]
        for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = http.get("/v1/collections", headers={"if-none-match": sent})
            assert again.status_code == 304, sent
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == "no-cache"
        stale = http.get("/v1/collections", headers={"if-none-match": '"not-the-etag"'})
        assert stale.status_code == 200 and stale.json() == first.json()


def test_another_file_has_another_etag(declaring: ServerProcess, declared_file: Path,
                                       tmp_path: Path) -> None:
    before = httpx.get(declaring.url + "/v1/collections", timeout=10).headers["etag"]
    edited = tmp_path / "collections.toml"  # the operator edits the file and restarts
    edited.write_text(declared_file.read_text().replace("maxLength = 200", "maxLength = 100"))
    server = ServerProcess(tmp_path / "sync.db",
                           env={"SYNCSERVER_COLLECTIONS": str(edited)}).start()
    try:
        # The copy a client holds from before is not current: the new body, a new tag.
        r = httpx.get(server.url + "/v1/collections", timeout=10,
                      headers={"if-none-match": before})
        assert r.status_code == 200 and r.headers["etag"] != before
        assert r.json()["collections"]["todos"]["schema"]["properties"]["title"][
            "maxLength"] == 100
    finally:
        server.stop()


def test_with_auth_on_any_valid_token_reads_it(declaring: ServerProcess, declared_file: Path,
                                               tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": SECRET,
        "SYNCSERVER_COLLECTIONS": str(declared_file)}).start()
    try:
        assert_problem(httpx.get(server.url + "/v1/collections", timeout=10), 401,
                       "unauthorized")
        assert_problem(httpx.get(server.url + "/v1/collections", timeout=10, headers={
            "authorization": "Bearer not-a-token"}), 401, "unauthorized")
        now = int(time.time())
        # A token that grants no space at all: the declaration is no space's data.
        token = jwt.encode({"sub": "ann", "spaces": {}, "iat": now, "exp": now + 600},
                           SECRET, algorithm="HS256")
        headers = {"authorization": f"Bearer {token}"}
        r = httpx.get(server.url + "/v1/collections", timeout=10, headers=headers)
        assert r.status_code == 200 and "todos" in r.json()["collections"]
        # Another process with the same file: the same tag (a client's copy stays current
        # across restarts and instances).
        assert r.headers["etag"] == httpx.get(declaring.url + "/v1/collections",
                                              timeout=10).headers["etag"]
        r = httpx.get(server.url + "/v1/collections", timeout=10,
                      headers={**headers, "if-none-match": r.headers["etag"]})
        assert r.status_code == 304
    finally:
        server.stop()
