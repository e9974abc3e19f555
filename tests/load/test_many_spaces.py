"""Clients that follow many spaces (--spaces-per-client), and grants and revocations in the
mix (--revocations): the assignment rule, the refresh plan, and short runs against a real
server whose verdict must be clean, with every revocation seen where the protocol says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import jwt
import pytest

from load.grants import plan
from load.recorder import Recorder
from load.scenarios.steady import Steady
from load.settings import Settings
from load.stats import Stats
from tests.load.test_auth_runs import assert_clean, run_spawned
from tests.load.test_scenarios import SHORT


def steady(**settings: object) -> Steady:
    return Steady(Settings("steady", **settings), Stats(), Recorder())  # type: ignore[arg-type]


def test_a_client_follows_n_minus_1_shared_spaces_and_one_of_its_own_drawn_from_the_seed():
    run = steady(clients=40, spaces=6, spaces_per_client=4, seed=11)
    spaces = [run.spaces_of(i) for i in range(40)]
    for i, mine in enumerate(spaces):
        assert len(set(mine)) == 4
        assert set(mine[:3]) <= set(run.pool) and mine[3] == run.private_space(i)
    # every space of the run is known up front (the journal and the checker read them all)
    assert set(run.space_names) == set(run.pool) | {s[3] for s in spaces}
    # shared: every pool space is followed by several clients, about 40 x 3 / 6 = 20 each
    followers = Counter(space for mine in spaces for space in mine[:3])
    assert set(followers) == set(run.pool) and min(followers.values()) >= 10
    # deterministic from the seed (the space names carry a fresh run id: compare indexes)
    again = steady(clients=40, spaces=6, spaces_per_client=4, seed=11)
    assert [[run.pool.index(s) for s in mine[:3]] for mine in spaces] == \
        [[again.pool.index(s) for s in again.spaces_of(i)[:3]] for i in range(40)]
    other = steady(clients=40, spaces=6, spaces_per_client=4, seed=12)
    assert [other.pool.index(s) for s in other.spaces_of(0)[:3]] != \
        [run.pool.index(s) for s in spaces[0][:3]] or \
        [other.pool.index(s) for s in other.spaces_of(1)[:3]] != \
        [run.pool.index(s) for s in spaces[1][:3]]


def test_one_space_per_client_is_the_home_space_round_robin_as_before():
    run = steady(clients=5, spaces=2, seed=1)
    assert [run.spaces_of(i) for i in range(5)] == [[run.pool[i % 2]] for i in range(5)]
    assert run.space_names == run.pool


def test_revocations_take_a_shared_space_away_and_two_in_three_give_it_back():
    settings = Settings("steady", clients=10, read_only_clients=1, revocations=6, seed=3,
                        duration=10, spaces_per_client=3)
    spaces_of = {i: ["a", "b", f"own{i}"] for i in range(10)}
    plans = plan(settings, spaces_of)
    assert len(plans) == 6 and 0 not in plans  # never a read-only client
    kept = 0
    for steps in plans.values():
        revoke = steps[0]
        assert not revoke.grant and revoke.space in ("a", "b")  # never its private space
        assert 1.5 <= revoke.at <= 3.5
        if len(steps) == 2:
            assert steps[1].grant and steps[1].space == revoke.space and steps[1].at > revoke.at
        else:
            kept += 1
    assert kept == 2
    assert plan(settings, spaces_of) == plans  # from the seed


def test_many_spaces_per_client_converge_space_by_space(live_server, run_load):
    status, report = run_load("steady", live_server.url, *SHORT, "--clients", "6",
                              "--spaces", "3", "--spaces-per-client", "3",
                              "--batch-size", "20")
    assert report["convergence"]["anomalies"] == [], live_server.log.read_text()[-3000:]
    assert status == 0 and report["results"]["errors"] == {}
    counts = report["convergence"]["counts"]
    assert counts["follows_checked"] == 6 * 3
    assert counts["spaces_followed"] == 3 + 6  # the pool and one private space each
    assert counts["spaces_shared"] == 3


def test_offline_replays_and_the_chaos_mix_over_many_spaces_converge(live_server, run_load):
    # batches replayed from the outbox span a client's spaces; the chaos mix plays on the pool
    status, report = run_load("offline-burst", live_server.url, *SHORT, "--clients", "6",
                              "--spaces", "3", "--spaces-per-client", "3", "--chaos",
                              "--offline-max", "0.4")
    assert report["convergence"]["anomalies"] == [], live_server.log.read_text()[-3000:]
    assert status == 0 and report["results"]["errors"] == {}
    assert report["convergence"]["counts"]["spaces_shared"] == 3


def test_a_run_with_grants_and_revocations_ends_clean(tmp_path: Path):
    clients, revocations = 8, 6
    status, report = run_spawned(tmp_path, "steady", "--duration", "2", "--settle-timeout", "20",
                                 "--clients", str(clients), "--spaces", "3",
                                 "--spaces-per-client", "3", "--batch-size", "20",
                                 "--revocations", str(revocations))
    assert_clean(status, report)
    totals, counts = report["results"]["totals"], report["convergence"]["counts"]
    plans = plan(Settings("steady", clients=clients, revocations=revocations, seed=7,
                          spaces_per_client=3), {i: ["a", "b", "c"] for i in range(clients)})
    given_back = sum(len(steps) == 2 for steps in plans.values())
    assert totals["revocations"] == revocations and totals["grants"] == given_back == 4
    # the server's side of each revocation: a pull entry and a queued write `forbidden`, and
    # on the WebSocket (the first half of the clients) the subscription ended `forbidden`
    assert totals["revoked_pulls_forbidden"] == revocations
    assert totals["revoked_writes_forbidden"] == revocations
    on_ws = sum(1 for index in plans if index < clients // 2)
    assert on_ws > 0 and totals["subscriptions_ended_forbidden"] == on_ws
    assert counts["outcome:rejected"] == revocations
    # a space still revoked at the end is no longer expected of its client
    assert counts["follows_checked"] == clients * 3 - (revocations - given_back)


@pytest.mark.parametrize("spaces_per_client", ["1", "4"])
def test_fanout_over_many_spaces_reports_memory_per_subscription(tmp_path, spaces_per_client):
    status, report = run_spawned(tmp_path, "fanout", *SHORT, "--subscribers", "12",
                                 "--writers", "2", "--rate", "40", "--spaces", "4",
                                 "--spaces-per-client", spaces_per_client)
    assert_clean(status, report)
    subscriptions = report["results"]["subscriptions"]
    assert subscriptions["connections"] == 12
    assert subscriptions["subscriptions"] == 12 * int(spaces_per_client)
    assert subscriptions["kb_per_subscription"] is not None  # a spawned server: its pid
    assert report["results"]["totals"]["deliveries"] > 0


def test_a_new_client_joins_many_spaces_over_http_and_over_one_websocket(live_server, run_load):
    status, report = run_load("initial-sync", live_server.url, "--records", "2000",
                              "--spaces", "5", "--spaces-per-client", "5", "--batch-size",
                              "250", "--page-limit", "300", "--settle-timeout", "20")
    assert report["convergence"]["anomalies"] == [] and status == 0
    results = report["results"]
    assert results["errors"] == {}
    assert results["changefeed"]["spaces"] == 5
    assert results["totals"]["initial_sync_records"] == 2000
    # over HTTP, several POST /v1/pull (300 changes each over all spaces), not one per space
    assert results["latency_ms"]["pull_many"]["count"] >= 2000 // 300
    assert results["latency_ms"]["initial_sync_ws"]["count"] == 1
    assert report["convergence"]["counts"]["follows_checked"] == 2 * 5


def test_the_checker_reads_each_partition_of_the_spaces_with_a_token_of_its_own():
    # 1,200 private spaces granted by name in one token would not fit in a request's
    # headers (SYNCSERVER_MAX_HEADER_BYTES): the checker's tokens grant a partition each
    run = steady(clients=1200, spaces=50, spaces_per_client=20, seed=1,
                 token_secret="s" * 32)
    whole = run.checker_token()
    assert whole is not None and len(whole) > 32_768
    part = run.space_names[:17]
    token = run.checker_token(part)
    assert token is not None and len(token) < 2_000
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"])
    assert claims["spaces"] == dict.fromkeys(part, "r")
