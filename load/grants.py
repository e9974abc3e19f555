"""Grants and revocations in the mix (``--revocations N``, steady, auth on).

N clients, drawn from the seed among those that may write, each lose one of their shared
spaces during the load phase: the tool mints them a refreshed token without it, as an app
refreshes its token after an admin took the user out of a team. Two in three later get a
token that grants it again; the third keeps it revoked to the end. What each client then
does is what the browser client does (docs/client.md):

- revocation: the new token goes on every request and in a new ``hello`` on its WebSocket;
  the client drops the space's local copy and cursor and stops expecting it (the checker no
  longer compares the space for it). The server must end the subscription with a
  ``forbidden`` error frame (frames of the space still on the way before it are dropped),
  answer a ``POST /v1/pull`` entry for it ``forbidden``, and reject a write to it that the
  app queued before it learned (one is sent) ``forbidden``;
- grant: the new token, a ``subscribe`` from the empty cursor on the same socket (or a
  ``POST /v1/pull`` catch-up over HTTP), and the space is written again and compared at the
  end like any other.

Each of these is counted (``revocations``, ``grants``, ``subscriptions_ended_forbidden``,
``revoked_pulls_forbidden``, ``revoked_writes_forbidden``); anything else (a write to a
revoked space accepted, a subscription the server never ended) is an error of the run.
Token refreshes happen between a client's pushes, never with a push of its own in flight,
and after its outbox is pushed (so that the one write sent to a revoked space is the only
one, and the counts are exact)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

from load.auth import WRITE, grants, mint_token
from load.client import SimClient
from load.settings import Settings
from load.stats import Stats
from load.ws import WsFeed

ENDED_WAIT = 10.0  # seconds the settle phase waits for a subscription's `forbidden` end


@dataclass
class Refresh:
    """One token refresh of one client: ``space`` taken away (grant False) or given back."""

    at: float  # seconds into the load phase
    space: str
    grant: bool


class Mix(Protocol):
    """What a refresh changes of a client's write mix (load/scenarios/writes.py)."""

    def forget(self, space: str) -> None: ...

    def add(self, space: str) -> None: ...


class Scenario(Protocol):
    settings: Settings
    stats: Stats
    client_spaces: dict[str, list[str]]
    feeds: dict[str, WsFeed]


def plan(settings: Settings, spaces_of: dict[int, list[str]]) -> dict[int, list[Refresh]]:
    """Client index -> its refreshes, in time order; deterministic from the seed. Only the
    shared spaces (all but the last, the private one) are revoked."""
    rng = random.Random(f"{settings.seed}:revocations")
    eligible = list(range(settings.read_only_clients, settings.clients))
    chosen = sorted(rng.sample(eligible, min(settings.revocations, len(eligible))))
    duration = settings.duration
    plans: dict[int, list[Refresh]] = {}
    for n, index in enumerate(chosen):
        space = rng.choice(spaces_of[index][:-1])
        steps = [Refresh(rng.uniform(0.15, 0.35) * duration, space, grant=False)]
        if n % 3 != 2:  # every third keeps it revoked to the end
            steps.append(Refresh(rng.uniform(0.5, 0.7) * duration, space, grant=True))
        plans[index] = steps
    return plans


class Refresher:
    """One client's planned refreshes, applied from its own loop (``due``) between pushes."""

    def __init__(self, scenario: Scenario, client: SimClient, mix: Mix,
                 steps: list[Refresh]) -> None:
        self.scenario = scenario
        self.client = client
        self.mix = mix
        self.steps = list(steps)
        self.started = time.monotonic()

    def begin(self) -> None:
        """The load phase starts: ``at`` counts from now."""
        self.started = time.monotonic()

    async def due(self, all_of_them: bool = False) -> None:
        """Apply the refreshes whose time has come (every one left: the load ended first)."""
        now = time.monotonic() - self.started
        while self.steps and (all_of_them or self.steps[0].at <= now):
            step = self.steps.pop(0)
            if not await self.client.flush(self.scenario.settings.batch_size):
                self.scenario.stats.error("outbox_not_flushed", self.client.client_id)
            await (self._grant(step.space) if step.grant else self._revoke(step.space))

    def _refresh_token(self) -> str:
        client = self.client
        spaces = self.scenario.client_spaces[client.client_id]
        secret = self.scenario.settings.token_secret
        assert secret is not None  # validated: --revocations needs --token-secret
        token = mint_token(secret, client.client_id, grants(spaces, WRITE))
        client.set_token(token)
        return token

    async def _revoke(self, space: str) -> None:
        client, stats = self.client, self.scenario.stats
        self.scenario.client_spaces[client.client_id].remove(space)  # no longer compared
        client.revoked.add(space)
        token = self._refresh_token()
        client.forget_space(space)
        self.mix.forget(space)
        feed = self.scenario.feeds.get(client.client_id)
        if feed is not None:
            await feed.reauth(token, revoke=space)
        stats.count("revocations")
        # The server's side, over HTTP: the space's pull entry is `forbidden` (counted by
        # pull_many), and a write the app queued before it learned is rejected `forbidden`.
        await client.pull_many([space])
        number = client.mid + 1
        client.write(space, "todos", f"{client.client_id}-revoked-{number}", "put",
                     {"title": "written before the revocation was known", "n": number})
        if not await client.push(client.outbox[:]):
            stats.error("revoked_write_unanswered", client.client_id)

    async def _grant(self, space: str) -> None:
        client = self.client
        self.scenario.client_spaces[client.client_id].append(space)
        client.revoked.discard(space)
        token = self._refresh_token()
        self.mix.add(space)
        feed = self.scenario.feeds.get(client.client_id)
        if feed is not None:
            await feed.reauth(token, grant=space)  # subscribed again from the empty cursor
        else:
            await client.pull_many([space])
        self.scenario.stats.count("grants")


async def check_ended(scenario: Scenario) -> None:
    """Settle: every subscription a revocation ended was ended by the server (`forbidden`)."""
    deadline = time.monotonic() + ENDED_WAIT
    for feed in scenario.feeds.values():
        while feed.ending and time.monotonic() < deadline:
            await feed.wait_progress(0.2)
        if feed.ending:
            scenario.stats.error("revocation_not_ended",
                                 f"{feed.client.client_id}: {sorted(feed.ending)}")
