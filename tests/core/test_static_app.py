"""Your own PWA on the same origin: `syncserver serve --static DIR` serves DIR at `/`, the
client library at `/sync/` and the API at `/v1/`, over a real server and real sockets.
Nothing outside DIR is ever served, whatever the path spells (`..`, `%2e%2e`, symlinks)."""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess, free_port

from .cli_support import assert_one_line_failure, run_syncserver

SECRET = "top-secret-outside-the-app"
FILES = {
    "index.html": "<!doctype html><title>mine</title><p>my own app</p>",
    "app.js": "console.log('app');",
    "sw.js": "importScripts('/sync/sw-sync.js');",
    "lib/util.mjs": "export const x = 1;",
    "workers/sw-nested.js": "self.addEventListener('install', () => {});",
    "manifest.webmanifest": '{"name": "mine", "start_url": "/"}',
    "app.css": "body { color: red; }",
    "icon.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>',
    "icon.png": "\x89PNG\r\n",
    "data.json": '{"a": 1}',
    "docs/index.html": "<p>docs</p>",
    ".env": SECRET,
    ".well-known/assetlinks.json": "[]",
    "404.html": "<p>the app's own not-found page</p>",
    "v1/shadow.json": "{}",
    "sync/shadow.js": "",
}


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "secret.txt").write_text(SECRET)  # beside the app, never served
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text(SECRET)
    app = root / "app"
    for name, text in FILES.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    os.symlink(root / "secret.txt", app / "link-to-file.txt")
    os.symlink(root / "outside", app / "link-to-dir")
    os.symlink(app / "app.js", app / "alias.js")  # inside DIR: served
    os.symlink(app / "loop-b", app / "loop-a")
    os.symlink(app / "loop-a", app / "loop-b")
    return app


@pytest.fixture(scope="module")
def server(app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # ServerProcess passes --no-demo: --static serves the app and the library regardless.
    db = tmp_path_factory.mktemp("static-db") / "sync.db"
    server = ServerProcess(db, env={"SYNCSERVER_STATIC": str(app_dir)}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def raw_get(server: ServerProcess, target: str) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (httpx would resolve `..`)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_static_serves_the_app_at_root_the_library_at_sync_and_the_api_at_v1(
        http_client: httpx.Client) -> None:
    home = http_client.get("/")
    assert home.status_code == 200 and "my own app" in home.text
    assert http_client.get("/index.html").text == home.text
    assert http_client.get("/docs/").text == FILES["docs/index.html"]
    library = http_client.get("/sync/index.js")
    assert library.status_code == 200 and "createSyncClient" in library.text
    assert "SyncServerSW" in http_client.get("/sync/sw-sync.js").text
    changes = http_client.get("/v1/changes", params={"space": "s1", "since": ""})
    assert changes.status_code == 200 and changes.json()["changes"] == []
    assert http_client.get("/healthz").status_code == 200
    # --static replaces the demo at /: the demo's own files are not there.
    assert http_client.get("/sw-config.js").status_code == 404


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html"),
    ("/app.js", "text/javascript"),
    ("/lib/util.mjs", "text/javascript"),
    ("/manifest.webmanifest", "application/manifest+json"),
    ("/app.css", "text/css"),
    ("/icon.svg", "image/svg+xml"),
    ("/icon.png", "image/png"),
    ("/data.json", "application/json"),
    ("/sync/index.js", "text/javascript"),
])
def test_files_are_served_with_their_content_type(
        http_client: httpx.Client, path: str, content_type: str) -> None:
    response = http_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type


@pytest.mark.parametrize("path", ["/sw.js", "/workers/sw-nested.js", "/app.js", "/lib/util.mjs",
                                  "/sync/sw-sync.js", "/sync/worker.js", "/sync/index.js"])
def test_scripts_are_revalidated_and_may_be_workers_scoped_to_the_whole_origin(
        http_client: httpx.Client, path: str) -> None:
    response = http_client.get(path, headers={"Service-Worker": "script"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["service-worker-allowed"] == "/"
    # Revalidation is cheap: the validator answers 304 without a body.
    again = http_client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "no-cache"


def test_pages_are_revalidated_too_and_only_scripts_widen_a_worker_scope(
        http_client: httpx.Client) -> None:
    for path in ("/", "/manifest.webmanifest", "/icon.png"):
        response = http_client.get(path)
        assert response.headers["cache-control"] == "no-cache", path
        assert "service-worker-allowed" not in response.headers, path


def test_a_missing_file_is_the_apps_404_page(http_client: httpx.Client) -> None:
    response = http_client.get("/no/such/file.js")
    assert response.status_code == 404 and response.text == FILES["404.html"]


@pytest.mark.parametrize("path", ["/v1/no-such-route", "/v1/shadow.json", "/sync/shadow.js",
                                  "/sync/no-such-module.js"])
def test_api_and_library_paths_are_never_the_apps_files(
        http_client: httpx.Client, path: str) -> None:
    response = http_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_a_symlink_inside_the_directory_is_served(http_client: httpx.Client) -> None:
    assert http_client.get("/alias.js").text == FILES["app.js"]


@pytest.mark.parametrize("target", [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/docs/../../secret.txt",
    "/docs/%2e%2e/%2e%2e/secret.txt",
    "/..\\secret.txt",
    "/%2e%2e%5csecret.txt",
    "//secret.txt",
    "/link-to-file.txt",
    "/link-to-dir/secret.txt",
    "/link-to-dir/",
    "/loop-a",
    "/.env",
    "/%2eenv",
    "/sync/../../secret.txt",
    "/sync/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/sync/%2e%2e/demo/app.js",
])
def test_nothing_outside_the_directory_is_served(server: ServerProcess, target: str) -> None:
    status, body = raw_get(server, target)
    assert status in (400, 404), (status, body[:200])
    assert SECRET.encode() not in body
    assert b"DEMO_SW_CONFIG" not in body and b"app.js" not in body


def test_well_known_is_the_one_dot_folder_served(http_client: httpx.Client) -> None:
    assert http_client.get("/.well-known/assetlinks.json").json() == []


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path. The message quotes a bad value whole up to 80 characters
    only, and tmp_path with a name on it is longer under a pytest-xdist worker
    (.../popen-gw2/test_static_that_is_not_a_dire0/no-such-app)."""
    with tempfile.TemporaryDirectory(prefix="static-") as folder:
        yield Path(folder)


@pytest.mark.parametrize("how", ["flag", "environment"])
@pytest.mark.parametrize("what", ["missing", "file"])
def test_static_that_is_not_a_directory_is_one_line_and_exit_2(
        short_tmp: Path, how: str, what: str) -> None:
    tmp_path = short_tmp
    target = tmp_path / "no-such-app"
    if what == "file":
        target.write_text("not a folder")
    db = tmp_path / "never.db"
    args = ["serve", "--db", str(db), "--port", str(free_port())]
    if how == "flag":
        done = run_syncserver([*args, "--static", str(target)])
    else:
        done = run_syncserver(args, env={"SYNCSERVER_STATIC": str(target)})
    message = assert_one_line_failure(done, "--static", "SYNCSERVER_STATIC", str(target),
                                      status=2)
    assert ("no such directory" if what == "missing" else "not a directory") in message
    assert not db.exists(), "a bad setting must stop the server before it touches the db"
