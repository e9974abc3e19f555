"""A real reverse proxy for browser tests, run as its own process: it forwards HTTP and
WebSocket traffic to the real server and answers 503 to the first N POST /v1/push (a load
balancer whose backend is briefly away). The server itself is never replaced or mocked.
While the server is stopped the proxy answers 502 and refuses WebSockets, as a reverse
proxy does. POST /_proxy/hold makes pushes wait (writes stay pending while the page is
online) until POST /_proxy/release.

    python -m tests.browser.proxy --upstream http://127.0.0.1:8000 --port 8001 --fail-pushes 1

GET /_proxy/stats reports how many pushes were refused and forwarded."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import httpx

from tests.server import REPO, free_port

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
    "proxy-connection",
    "te",
    "trailer",
}


def create_app(upstream: str, fail_pushes: int, busy: bool = False):  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    stats = {"refused": 0, "forwarded": 0}
    holding = {"held": 0}  # pushes that waited while held
    client = httpx.AsyncClient(base_url=upstream, timeout=60)
    pushes_flow = asyncio.Event()
    pushes_flow.set()

    async def forward(request: Request) -> Response:
        if request.url.path == "/_proxy/stats":
            return JSONResponse(stats)
        if request.url.path in ("/_proxy/hold", "/_proxy/release"):
            if request.method == "POST":
                (pushes_flow.clear if request.url.path == "/_proxy/hold" else pushes_flow.set)()
            return JSONResponse(holding)
        if request.method == "POST" and request.url.path == "/v1/push":
            if stats["refused"] < fail_pushes:
                stats["refused"] += 1
                if busy:  # the server's own answer when its storage cannot write
                    return JSONResponse(
                        {"code": "storage_unavailable", "detail": "disk full", "retry_after": 1},
                        status_code=503, media_type="application/problem+json",
                        headers={"retry-after": "1"})
                return Response("upstream unavailable", status_code=503)
            if not pushes_flow.is_set():
                holding["held"] += 1
                await pushes_flow.wait()
            stats["forwarded"] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            answer = await client.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        except httpx.TransportError:
            return Response("bad gateway: the server does not answer", status_code=502)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(answer.content, status_code=answer.status_code, headers=out)

    async def tunnel(websocket: WebSocket) -> None:
        # Upstream first: with the server down the handshake fails, as it would without us.
        try:
            server = await connect(upstream.replace("http", "ws", 1) + "/v1/ws")
        except (OSError, WebSocketException):
            await websocket.close(1011)
            return
        await websocket.accept()
        async with server:

            async def down() -> None:
                async for message in server:
                    await websocket.send_text(str(message))

            task = asyncio.create_task(down())
            try:
                while True:
                    await server.send(await websocket.receive_text())
            except WebSocketDisconnect:
                pass
            finally:
                task.cancel()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[WebSocketRoute("/v1/ws", tunnel), Route("/{path:path}", forward, methods=methods)]
    )


class FlakyProxy:
    def __init__(self, upstream: str, fail_pushes: int = 1, busy: bool = False) -> None:
        """busy: refuse pushes as a server whose storage cannot write does (503
        storage_unavailable), not as a proxy whose backend is away."""
        self.upstream = upstream
        self.fail_pushes = fail_pushes
        self.busy = busy
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        return httpx.get(self.url + "/_proxy/stats", timeout=5).json()

    def hold(self) -> None:
        """Pushes wait at the proxy until release(): writes stay pending while online."""
        httpx.post(self.url + "/_proxy/hold", timeout=5).raise_for_status()

    def release(self) -> None:
        httpx.post(self.url + "/_proxy/release", timeout=5).raise_for_status()

    def held(self) -> int:
        """How many pushes have waited at the proxy."""
        return int(httpx.get(self.url + "/_proxy/hold", timeout=5).json()["held"])

    def start(self) -> "FlakyProxy":
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.browser.proxy",
                "--upstream",
                self.upstream,
                "--port",
                str(self.port),
                "--fail-pushes",
                str(self.fail_pushes),
                *(["--busy"] if self.busy else []),
            ],
            cwd=REPO,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.stats()
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("proxy did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-pushes", type=int, default=1)
    parser.add_argument("--busy", action="store_true")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream, args.fail_pushes, args.busy),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
