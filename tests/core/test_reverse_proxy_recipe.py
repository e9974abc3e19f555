"""The reverse-proxy recipe of docs/deployment.md, run as written: the nginx block is taken
from the doc (only its listen address, its upstream port and the CDN's address are
replaced), put in front of a real syncserver and a stand-in for the app's own server, and
the app, its worker, the library, the API, a long-poll, a large push and the WebSocket all
answer through it."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from syncserver.config.settings import Settings
from tests import nginx
from tests.helpers import mutation
from tests.server import REPO, ServerProcess, free_port

APP_DIR = REPO / "tests" / "browser" / "static_app"
SECTION = "## Your app served elsewhere"


def recipe() -> str:
    """The nginx block of the doc's reverse-proxy section."""
    return nginx.doc_block(SECTION)


def location(config: str, name: str) -> str:
    match = re.search(r"location " + re.escape(name) + r" \{(.*?)\n    \}", config, re.S)
    assert match, f"no location {name} in the recipe"
    return match.group(1)


def test_the_recipe_outlasts_the_longest_long_poll_and_takes_the_largest_push() -> None:
    api = location(recipe(), "/v1/")
    read_timeout = re.search(r"proxy_read_timeout (\w+);", api)
    body_size = re.search(r"client_max_body_size (\d+)m;", api)
    assert read_timeout and body_size, api
    defaults = Settings()
    assert nginx.seconds(read_timeout.group(1)) > defaults.max_wait
    assert int(body_size.group(1)) * 1024 * 1024 >= defaults.max_batch_bytes


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("proxy")
    server = ServerProcess(root / "sync.db", demo=True, env={"SYNCSERVER_MAX_WAIT": "5"}
                           ).start()
    # The app's own server (or a CDN): the test app under /myapp/.
    (root / "cdn").mkdir()
    (root / "cdn" / "myapp").symlink_to(APP_DIR)
    cdn = ThreadingHTTPServer(("127.0.0.1", 0),
                              functools.partial(Quiet, directory=str(root / "cdn")))
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    port = free_port()
    block = (recipe().replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
             .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{server.port};")
             .replace("https://cdn.example.net/", f"http://127.0.0.1:{cdn.server_port}/"))
    assert f"127.0.0.1:{port}" in block and f"{cdn.server_port}/myapp/" in block, block
    try:
        with nginx.running(root, block, port):
            yield f"127.0.0.1:{port}"
    finally:
        cdn.shutdown()
        cdn.server_close()
        server.stop()


def test_the_app_its_worker_and_the_library_share_the_proxys_origin(proxy: str) -> None:
    with httpx.Client(base_url=f"http://{proxy}", timeout=10) as client:
        home = client.get("/")
        assert home.status_code == 200 and home.text == (APP_DIR / "index.html").read_text()
        worker = client.get("/sw.js")
        assert worker.text == (APP_DIR / "sw.js").read_text()
        assert worker.headers.get_list("cache-control") == ["no-cache"]
        library = client.get("/sync/index.js")
        assert library.status_code == 200 and "createSyncClient" in library.text
        assert library.headers["content-type"].startswith("text/javascript")


def test_pushes_long_polls_and_large_batches_pass_the_proxy(proxy: str) -> None:
    with httpx.Client(base_url=f"http://{proxy}", timeout=30) as client:
        start = time.monotonic()
        waited = client.get("/v1/changes", params={"space": "p1", "since": "", "wait": 2})
        assert waited.status_code == 200 and time.monotonic() - start >= 1.5
        pushed = client.post("/v1/push", json={"client_id": "c1", "mutations": [
            mutation(1, "a", space="p1")]})
        assert pushed.status_code == 200 and pushed.json()["results"][0]["status"] == "applied"
        # Above nginx's default body limit (1 MB): the server answers, not the proxy.
        big = {"client_id": "c1", "mutations": [
            mutation(2, "b", space="p1", data={"text": "x" * 1_500_000})]}
        response = client.post("/v1/push", content=orjson.dumps(big),
                               headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text[:300]
        assert response.json()["results"][0]["code"] == "record_too_large"


def test_the_websocket_upgrade_passes_the_proxy(proxy: str) -> None:
    async def ping() -> dict:
        async with connect(f"ws://{proxy}/v1/ws") as ws:
            await ws.send(orjson.dumps({"type": "ping"}).decode())
            return orjson.loads(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(ping()) == {"type": "pong"}
