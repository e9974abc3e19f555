"""The randomized convergence run of issue 11: `contention` and `offline-burst` with chained
offline edits, commutative operations mixed with plain writes, slow WebSocket consumers
and hostile clients, against a real server; the verdict must be clean.

The seed is random (set LOAD_CHAOS_SEED to replay one) and named in any failure. The
server runs with a small WebSocket queue so that slow consumers overflow within seconds."""

from __future__ import annotations

import os
import random

import orjson

CHAOS = [
    "--chaos",
    "--duration",
    "4",
    "--settle-timeout",
    "20",
    "--clients",
    "6",
    "--spaces",
    "2",
    "--slow-consumers",
    "2",
    "--hostile-clients",
    "2",
]
SCENARIOS = {
    "contention": ["--hot-records", "2", "--fields", "2"],
    "offline-burst": ["--offline-max", "0.8", "--writes-per-s", "15", "--batch-size", "20"],
}


def test_randomized_convergence_run_with_chains_ops_slow_consumers_and_hostile_clients_ends_clean(
    server_factory, run_load
):
    seed = int(os.environ.get("LOAD_CHAOS_SEED") or random.randrange(1 << 30))
    server = server_factory(env={"SYNCSERVER_WS_QUEUE": "4"})
    totals: dict[str, int] = {}
    for scenario, extra in SCENARIOS.items():
        status, report = run_load(scenario, server.url, *CHAOS, *extra, "--seed", str(seed))
        verdict = report["convergence"]
        where = f"{scenario} with LOAD_CHAOS_SEED={seed}"
        first = {a["kind"]: a for a in reversed(verdict["anomalies"])}  # one of each kind
        shown = orjson.dumps(list(first.values()), option=orjson.OPT_INDENT_2).decode()
        assert verdict["anomalies"] == [], (
            f"{where}: {verdict['counts']}\n{shown}\n"
            f"errors: {report['results']['errors']}\n{server.log.read_text()[-2000:]}"
        )
        assert status == 0, where
        counts = verdict["counts"]
        # the run verified what it was meant to: every part of the mix took place
        for what in ("poison_checked", "poison_neighbours_checked", "probes_checked",
                     "counters_checked", "sets_checked", "overrides_checked",
                     "replays_deduplicated"):
            assert counts.get(what, 0) > 0, (where, what, counts)
        for name, value in report["results"]["totals"].items():
            totals[name] = totals.get(name, 0) + value
    assert totals.get("slow_consumer_resyncs", 0) > 0, totals  # slow consumers were told
