"""What auth costs on push: the same pushes against a server with auth off and one with
`--auth jwt`, in alternating rounds (so machine noise falls on both alike).

    python3 scripts/bench_auth.py [--rounds 5] [--batches 40]

Each round pushes `--batches` batches of 100 new records, then as many batches of 1, from
one keep-alive client, and prints the median time per batch for each server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncserver.guard.tokens import mint
from tests.helpers import mutation, stamped_by
from tests.server import ServerProcess

SECRET = "bench-" + "s" * 40


def run_round(client: httpx.Client, headers: dict[str, str], size: int, batches: int
              ) -> list[float]:
    cid = "c-" + uuid.uuid4().hex[:8]
    space = "bench"
    times = []
    mid = 0
    for _ in range(batches):
        ms = []
        for _ in range(size):
            mid += 1
            ms.append(mutation(mid, f"r{cid}{mid}", space=space))
        body = {"client_id": cid, "protocol": 2, "mutations": stamped_by(cid, ms)}
        start = time.perf_counter()
        r = client.post("/v1/push", json=body, headers=headers)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        off = ServerProcess(Path(folder) / "off.db").start()
        on = ServerProcess(Path(folder) / "on.db", env={
            "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": SECRET}).start()
        token = mint(SECRET, "bench-user", {"bench": "rw"}, 3600)
        results: dict[tuple[str, int], list[float]] = {}
        try:
            with httpx.Client(base_url=off.url, timeout=60) as c_off, \
                    httpx.Client(base_url=on.url, timeout=60) as c_on:
                for _ in range(args.rounds):
                    for size in (100, 1):
                        results.setdefault(("off", size), []).extend(
                            run_round(c_off, {}, size, args.batches))
                        results.setdefault(("on", size), []).extend(run_round(
                            c_on, {"Authorization": f"Bearer {token}"}, size, args.batches))
        finally:
            off.stop()
            on.stop()
    for size in (100, 1):
        base = statistics.median(results[("off", size)])
        auth = statistics.median(results[("on", size)])
        print(f"batches of {size:3}: auth off {base * 1000:7.2f} ms, auth on "
              f"{auth * 1000:7.2f} ms per batch (median): {100 * (auth / base - 1):+.1f}%")


if __name__ == "__main__":
    main()
