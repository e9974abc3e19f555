"""Hybrid logical clock stamps: "<ms, 13 digits>:<counter, 5 digits>:<node>".

Fixed widths make plain string comparison equal to clock order, with the node id as the
deterministic tie-break, so stamps can be compared and indexed as text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NamedTuple

HLC_PATTERN = re.compile(r"^([0-9]{13}):([0-9]{5}):([A-Za-z0-9_.:-]{1,128})$")  # ASCII digits only
MAX_COUNTER = 99_999
# The node of the server's own stamps (conflict resolutions through the API). No client may
# use it as its id: the server would take those writes for the client's own (merge.py).
SERVER_NODE = "server"

# The fields of a stamp's text, by position (fixed widths): the only place that knows them.
# Slices, not functions, for the hot paths: a push reads the node and the ms of every
# mutation's stamp, and a call each would cost more than the slicing itself.
MS = slice(0, 13)  # the ms, 13 digits: compare as text with Clock.ceiling()
COUNTER = slice(14, 19)
TIME = slice(0, 19)  # "<ms>:<counter>": clock order without the node
NODE = slice(20, None)


def node_of(stamp: str) -> str:
    """The node of a stamp string: the client id that wrote it (or SERVER_NODE)."""
    return stamp[NODE]


class Stamp(NamedTuple):  # a tuple: cheap to make, ordered by (ms, counter, node)
    ms: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.ms:013d}:{self.counter:05d}:{self.node}"


def parse(text: object) -> Stamp | None:
    """The stamp, or None when `text` is not a well-formed HLC string."""
    if not valid(text):
        return None
    assert isinstance(text, str)
    return Stamp(int(text[MS]), int(text[COUNTER]), text[NODE])


def valid(text: object) -> bool:
    return isinstance(text, str) and HLC_PATTERN.fullmatch(text) is not None


class Clock:
    """The server's HLC. It stays ahead of every stamp it accepts, within a drift bound.

    A stamp further ahead of server time than `max_drift_ms` is clamped to the server's own
    next stamp (keeping the writer's node id): a client whose clock runs a day fast would
    otherwise win every last-writer-wins decision for a day.

    Stamps stay text on the hot path (a push receives one per mutation): their fixed-width
    fields make text order equal to clock order, so receiving a stamp is two slices and two
    comparisons, and only the server's own stamps (`now`) are parsed into numbers. One clock
    is used from one thread (the storage writer's).
    """

    def __init__(
        self, max_drift_ms: int, node: str = SERVER_NODE, wall: Callable[[], float] = time.time
    ) -> None:
        self.max_drift_ms = max_drift_ms
        self.node = node
        self._wall = wall
        self._ms = 0  # the last stamp issued
        self._counter = 0
        self._seen = ""  # the greatest "<ms>:<counter>" received since, as text

    def now(self) -> Stamp:
        """A new stamp, after every stamp issued or received before."""
        seen_ms, seen_counter = 0, -1
        if self._seen:
            seen_ms, seen_counter = int(self._seen[MS]), int(self._seen[COUNTER])
            self._seen = ""
        ms, counter = self._advance(int(self._wall() * 1000), seen_ms, seen_counter)
        return Stamp(ms, counter, self.node)

    def ceiling(self) -> str:
        """The highest acceptable ms field now, as text (compare with `stamp[MS]`). A push
        takes it once per batch: a batch is applied within milliseconds."""
        return f"{int(self._wall() * 1000) + self.max_drift_ms:013d}"

    def receive(self, stamp: str, ceiling: str | None = None) -> tuple[str, bool]:
        """Take in `stamp` (a valid stamp string); return the stamp to store and whether it
        was clamped."""
        if stamp[MS] > (ceiling or self.ceiling()):
            own = self.now()
            return f"{own.ms:013d}:{own.counter:05d}:{stamp[NODE]}", True
        self.saw(stamp)
        return stamp, False

    def saw(self, stamp: str) -> None:
        """Note an accepted stamp (valid, not beyond the ceiling): `now` will be after it."""
        when = stamp[TIME]  # sliced once: a push notes the stamp of every new record
        if when > self._seen:
            self._seen = when

    def _advance(self, wall_ms: int, seen_ms: int, seen_counter: int) -> tuple[int, int]:
        """The next (ms, counter) after both the last one and the seen one (-1: none seen)."""
        last_ms = self._ms
        ms = max(wall_ms, last_ms, seen_ms)
        if ms == last_ms:
            counter = max(self._counter, seen_counter if seen_ms == ms else -1) + 1
        elif seen_ms == ms:
            counter = seen_counter + 1
        else:
            counter = 0
        if counter > MAX_COUNTER:  # a burst of 100k stamps in one ms: borrow the next ms
            ms, counter = ms + 1, 0
        self._ms, self._counter = ms, counter
        return ms, counter
