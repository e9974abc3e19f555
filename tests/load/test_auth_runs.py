"""--token-secret against a server with auth on (``--auth jwt``): every scenario runs with
per-client tokens in the server's form and stays clean; a client whose token cannot write
its space gets ``forbidden`` results, counted as such, never as convergence failures."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from load.auth import READ, WRITE, mint_token
from load.cli import main, spawn_auth
from load.client import SimClient
from load.recorder import Recorder
from load.settings import Settings
from load.spawn import SpawnedServer
from load.stats import Stats
from tests.load.test_scenarios import CASES, SHORT

SECRET = "load-auth-test-secret-of-32-chars-or-more"


def run_spawned(tmp_path: Path, scenario: str, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / f"report-{scenario}"
    status = main([scenario, "--spawn", "--token-secret", SECRET, "--no-progress", "--loop",
                   "asyncio", "--seed", "7", "--out", str(out), *extra])
    return status, orjson.loads((out / "report.json").read_bytes())


def assert_clean(status: int, report: dict[str, Any]) -> None:
    verdict, results = report["convergence"], report["results"]
    assert verdict["anomalies"] == [], report["extra"].get("server_log_tail")
    assert verdict["verdict"] == "clean" and status == 0
    assert results["errors"] == {}, results["error_samples"]
    assert verdict["counts"]["mutations"] > 0 and verdict["counts"]["clients_checked"] > 0


def push(url: str, token: str | None, client_id: str, space: str) -> tuple[int, dict[str, Any]]:
    mutation = {"mid": 1, "space": space, "collection": "c", "id": "r", "op": "put",
                "base_version": 0, "hlc": f"1763756400000:00000:{client_id}", "data": {}}
    body = orjson.dumps({"client_id": client_id, "protocol": 2, "mutations": [mutation]})
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + "/v1/push", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def test_spawn_with_a_token_secret_starts_the_server_with_auth_and_minted_tokens_pass_it():
    args, env = spawn_auth(["--ws-queue", "8"], Settings("steady", token_secret=SECRET))
    assert args == ["--ws-queue", "8", "--auth", "jwt", "--rate-limit", "0"]
    assert env == {"SYNCSERVER_JWT_SECRET": SECRET}  # not on the command line
    with SpawnedServer(args, env=env) as server:
        assert push(server.url, None, "c-1", "s1")[0] == 401
        token = mint_token(SECRET, "c-1", {"s1": WRITE, "s2": READ})
        status, body = push(server.url, token, "c-1", "s1")
        assert status == 200 and body["results"][0]["status"] == "applied"
        status, body = push(server.url, token, "c-1", "s2")  # read-only: exactly as granted
        assert status == 200 and body["results"][0]["code"] == "forbidden"
        other = mint_token(SECRET, "c-2", {"s1": WRITE})  # client id c-1 is bound to sub c-1
        assert push(server.url, other, "c-1", "s1")[0] == 403


def test_an_explicit_auth_in_server_args_is_kept():
    args, _ = spawn_auth(["--auth=jwt", "--rate-limit=50"], Settings("steady", token_secret=SECRET))
    assert args == ["--auth=jwt", "--rate-limit=50"]  # and so is a named rate limit
    # no token: the spawned server runs --auth none, unless --server-args says otherwise
    assert spawn_auth(["--ws-queue", "8"], Settings("steady")) == \
        (["--ws-queue", "8", "--auth", "none"], {})
    assert spawn_auth(["--dev"], Settings("steady")) == (["--dev"], {})


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_every_scenario_stays_clean_with_per_client_tokens(scenario, tmp_path):
    status, report = run_spawned(tmp_path, scenario, *SHORT, *CASES[scenario])
    assert_clean(status, report)
    assert report["settings"]["token_secret"] == "***"


@pytest.mark.parametrize("scenario", ["contention", "offline-burst"])
def test_the_chaos_mix_stays_clean_with_per_client_tokens(scenario, tmp_path):
    # hostile clients' WebSocket probes say hello with their token, then misbehave
    status, report = run_spawned(tmp_path, scenario, *SHORT, "--clients", "4", "--chaos")
    assert_clean(status, report)
    assert report["convergence"]["counts"]["probes_checked"] > 0


def test_a_client_whose_token_cannot_write_its_space_is_counted_forbidden_not_diverged(
    tmp_path,
):
    status, report = run_spawned(tmp_path, "steady", *SHORT, "--clients", "4", "--spaces", "2",
                                 "--read-only-clients", "1", "--batch-size", "20")
    assert_clean(status, report)
    totals = report["results"]["totals"]
    assert totals["forbidden_rejections"] > 0
    assert report["convergence"]["counts"]["outcome:rejected"] > 0


def test_an_unexpected_forbidden_result_is_reported_as_a_rejection_not_a_5xx():
    # a client of an ordinary run whose token does not grant the space it writes (a
    # misconfigured token): each result is an error named by its code
    args, env = spawn_auth([], Settings("steady", token_secret=SECRET))

    async def run(url: str) -> tuple[Stats, Recorder]:
        stats, recorder = Stats(), Recorder()
        client = SimClient("c-9", url, recorder, stats,
                           mint_token(SECRET, "c-9", {"s1": READ}))
        client.write("s1", "c", "r1", "put", {"n": 1})
        assert await client.push(client.outbox)
        await client.close()
        return stats, recorder

    with SpawnedServer(args, env=env) as server:
        stats, recorder = asyncio.run(run(server.url))
    assert stats.errors == {"rejected_forbidden": 1}
    assert recorder.server_errors == []
    assert [r["code"] for r in recorder.results[("c-9", 1)]] == ["forbidden"]
