"""The write mix of the steady and offline-burst scenarios: mostly new records, some merge
patches of the client's own records (``--patch-share``), a few deletes (``--delete-share``).

Clients only patch and delete records they created, and never touch a record again once
they deleted it: these scenarios measure throughput and replay safety without conflicts
(contention is its own scenario)."""

from __future__ import annotations

import random

from load.client import SimClient
from load.replica import Key, space_of
from load.scenarios.base import Scenario

COLLECTIONS = ("todos", "notes")


class WriteMix:
    def __init__(self, scenario: Scenario, client: SimClient, spaces: list[str]) -> None:
        self.scenario = scenario
        self.client = client
        self.spaces = list(spaces)  # its own list: a revocation changes it (load/grants.py)
        self.rng = random.Random(scenario.rng.random())
        self.alive: list[Key] = []
        self.created = 0

    def forget(self, space: str) -> None:
        """A revoked space (load/grants.py): no more writes there, its records forgotten."""
        if space in self.spaces:
            self.spaces.remove(space)
        self.alive = [key for key in self.alive if space_of(key) != space]

    def add(self, space: str) -> None:
        """A space granted (again): new records go there too."""
        if space not in self.spaces:
            self.spaces.append(space)

    def write(self, n: int) -> None:
        rng, client = self.rng, self.client
        patch = self.scenario.settings.patch_share
        delete = patch + self.scenario.settings.delete_share
        for _ in range(n):
            roll = rng.random()
            if self.alive and roll < patch:
                space, collection, rid = self.alive[rng.randrange(len(self.alive))]
                client.write(
                    space,
                    collection,
                    rid,
                    "patch",
                    {"done": rng.random() < 0.5, "n": client.mid + 1},
                )
            elif self.alive and roll < delete:
                space, collection, rid = self.alive.pop(rng.randrange(len(self.alive)))
                client.write(space, collection, rid, "delete")
            else:
                self.created += 1
                space = self.spaces[rng.randrange(len(self.spaces))]
                collection = COLLECTIONS[self.created % len(COLLECTIONS)]
                rid = f"{client.client_id}-{self.created}"
                client.write(
                    space, collection, rid, "put", self.scenario.payload(client, self.created)
                )
                self.alive.append((space, collection, rid))
                if len(self.alive) > 200:  # patch recent records; old ones stay as they are
                    self.alive.pop(0)
