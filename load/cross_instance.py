"""Cross-instance delivery latency: writes pushed through instance A, received over the
WebSocket by subscribers on A, B and C (three `syncserver serve` on one PostgreSQL
database); the time from a push being sent to each subscriber receiving its change.

    python -m load.cross_instance --db postgresql://postgres@127.0.0.1:5432/bench \
        --subscribers 100 --rate 25 --duration 15

The database must exist (empty or migrated; the instances migrate it). Spaces are fresh
per run. Prints p50/p99 per instance and, as JSON, the figures (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from typing import TypedDict

import httpx
import orjson
from websockets.asyncio.client import connect

from .spawn import free_port, server_command


def start(db: str, log: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(server_command(port, db, ["--auth", "none", "--no-demo",
                                                         "--log-level", "warning", *extra]),
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"syncserver exited: see {log}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"syncserver did not start: see {log}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def subscriber(url: str, space: str, sent: dict[str, float], out: list[float],
                     ready: asyncio.Event, stop: asyncio.Event) -> None:
    ws_url = url.replace("http://", "ws://") + "/v1/ws"
    async with connect(ws_url, max_queue=None) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "space": space}).decode())
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.perf_counter()
            msg = orjson.loads(frame)
            if msg["type"] == "synced":
                ready.set()
            for change in msg.get("changes", ()):
                if change["id"] in sent:
                    out.append((now - sent[change["id"]]) * 1000)


class Figures(TypedDict):
    """One instance's deliveries, and their latency from the write being sent."""

    delivered: int
    expected: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class Report(TypedDict):
    writes: int
    subscribers_per_instance: int
    rate: float
    per_instance: dict[str, Figures]  # "A" (the writer's instance), "B", "C"


async def run(urls: list[str], subscribers: int, rate: float, duration: float) -> Report:
    run_id = uuid.uuid4().hex[:8]
    space, client_id = f"xi-{run_id}", f"xi-writer-{run_id}"  # fresh: no mid is a replay
    sent: dict[str, float] = {}
    latencies: dict[str, list[float]] = {name: [] for name in "ABC"}
    stop = asyncio.Event()
    readies = []
    tasks = []
    for name, url in zip("ABC", urls, strict=True):
        for _ in range(subscribers):
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(subscriber(url, space, sent, latencies[name],
                                                        ready, stop)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    async with httpx.AsyncClient(base_url=urls[0], timeout=30) as writer:
        mid, started = 0, time.perf_counter()
        while time.perf_counter() - started < duration:
            mid += 1
            rid = f"r{mid}"
            body = {"client_id": client_id, "mutations": [{
                "mid": mid, "space": space, "collection": "todos", "id": rid, "op": "put",
                "base_version": 0, "data": {"n": mid},
                "hlc": f"{int(time.time() * 1000):013d}:00000:{client_id}"}]}
            sent[rid] = time.perf_counter()
            answer = await writer.post("/v1/push", json=body)
            answer.raise_for_status()
            assert answer.json()["results"][0]["status"] == "applied", answer.text
            await asyncio.sleep(max(0.0, started + mid / rate - time.perf_counter()))
    await asyncio.sleep(2)  # the last deliveries
    stop.set()
    await asyncio.gather(*tasks)
    expected = len(sent) * subscribers
    return {"writes": len(sent), "subscribers_per_instance": subscribers, "rate": rate,
            "per_instance": {name: {"delivered": len(v), "expected": expected,
                                    "p50_ms": round(percentile(v, 0.5), 2),
                                    "p99_ms": round(percentile(v, 0.99), 2),
                                    "max_ms": round(max(v, default=float("nan")), 2)}
                             for name, v in latencies.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="postgresql:// URL of an existing database")
    parser.add_argument("--subscribers", type=int, default=100, help="per instance")
    parser.add_argument("--rate", type=float, default=25.0, help="writes/s through A")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--server-args", default="", help="more `serve` options")
    args = parser.parse_args()
    logs = tempfile.mkdtemp(prefix="syncserver-xi-")
    procs = []
    try:
        for name in "ABC":
            procs.append(start(args.db, os.path.join(logs, f"{name}.log"),
                               args.server_args.split()))
        report = asyncio.run(run([url for _, url in procs], args.subscribers, args.rate,
                                 args.duration))
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)
    for name, figures in report["per_instance"].items():
        print(f"{name}{' (the writer)' if name == 'A' else ''}: p50 {figures['p50_ms']} ms, "
              f"p99 {figures['p99_ms']} ms, {figures['delivered']}/{figures['expected']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
