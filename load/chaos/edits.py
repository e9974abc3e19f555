"""The innocent writes of the chaos mix: commutative operations on shared tallies, and
chains of offline edits of shared notes.

Tallies (collection ``tallies``) are created once with ``{"likes": 0, "tags": []}`` and
then only patched: ``$inc`` of ``likes``, ``$add``/``$remove`` of ``tags`` elements, and
plain writes of the same fields (a reset of the counter, a whole new list), interleaved
across devices. Notes (collection ``notes``) are edited in chains: a device queues two to
four edits of the same note while offline, each based on the version it last received
(protocol 2); some links lose their conflict, and some are rejected (a bad link)."""

from __future__ import annotations

import random

from load.chaos.poison import bad_link
from load.client import SimClient

TALLIES = "tallies"
NOTES = "notes"
TAGS = ["a", "b", "c", "d", "e", "f"]
FIELDS = ["title", "body", "done"]


def tally_write(client: SimClient, rng: random.Random, space: str, rid: str) -> None:
    roll = rng.random()
    if roll < 0.45:
        data: dict[str, object] = {"likes": {"$inc": rng.randint(1, 3)}}
    elif roll < 0.65:
        data = {"tags": {"$add": rng.sample(TAGS, rng.randint(1, 2))}}
    elif roll < 0.8:
        data = {"tags": {"$remove": rng.sample(TAGS, rng.randint(1, 2))}}
    elif roll < 0.9:
        data = {"likes": rng.randint(0, 5)}  # a reset: a plain write of the counter
    else:
        # a plain write of the set field, sorted and unique as the server keeps sets
        data = {"tags": sorted(rng.sample(TAGS, rng.randint(0, 3)))}
    if rng.random() < 0.3:
        data["note"] = f"{client.client_id}:{client.mid + 1}"  # a plain field alongside
    client.write(space, TALLIES, rid, "patch", data)


def chain(client: SimClient, rng: random.Random, space: str, rid: str,
          bad_links: bool = True) -> int:
    """Queue 2-4 edits of one note (a chain); returns how many were queued."""
    links = rng.randint(2, 4)
    key = (space, NOTES, rid)
    for _ in range(links):
        value = f"{client.client_id}:{client.mid + 1}"
        roll = rng.random()
        if bad_links and roll < 0.12:
            confirmed = client.store.get(key)
            client.queue_raw(bad_link(key, confirmed["version"] if confirmed else 0,
                                      client.hlc.stamp()))
        elif roll < 0.25:
            client.write(space, NOTES, rid, "put", {f: value for f in FIELDS[:2]} | {
                "done": rng.random() < 0.5})
        else:
            field = rng.choice(FIELDS)
            client.write(space, NOTES, rid, "patch",
                         {field: value if field != "done" else rng.random() < 0.5})
    return links
