"""The server's Prometheus counters and gauges (`GET /metrics`), summed per name (labels
merged): what a scenario reads before and after its run (the fan-out's frames per write)."""

from __future__ import annotations

from load.http import HttpConnection, HttpError


async def read_metrics(url: str, prefix: str, token: str | None = None) -> dict[str, float]:
    """Samples whose name starts with `prefix` (empty: the server answered no metrics)."""
    http = HttpConnection(url, token)
    try:
        answer = await http.request("GET", "/metrics")
    except HttpError:
        return {}
    finally:
        await http.close()
    found: dict[str, float] = {}
    if answer is None or answer.status != 200:
        return found
    for line in answer.body.decode().splitlines():
        if line.startswith(prefix) and "_created" not in line:
            name, _, value = line.rpartition(" ")
            name = name.split("{", 1)[0]
            found[name] = found.get(name, 0.0) + float(value)
    return found
