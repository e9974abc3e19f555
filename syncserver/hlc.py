"""Hybrid logical clock stamps: "<ms, 13 digits>:<counter, 5 digits>:<node>".

Fixed widths make plain string comparison equal to clock order, with the node id as the
deterministic tie-break, so stamps can be compared and indexed as text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NamedTuple

HLC_PATTERN = re.compile(r"^(\d{13}):(\d{5}):([A-Za-z0-9_.:-]{1,128})$")
MAX_COUNTER = 99_999


class Stamp(NamedTuple):  # a tuple: cheap to make, ordered by (ms, counter, node)
    ms: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.ms:013d}:{self.counter:05d}:{self.node}"


def parse(text: object) -> Stamp | None:
    """The stamp, or None when `text` is not a well-formed HLC string."""
    if not isinstance(text, str):
        return None
    match = HLC_PATTERN.fullmatch(text)
    if match is None:
        return None
    return Stamp(int(match.group(1)), int(match.group(2)), match.group(3))


class Clock:
    """The server's HLC. It advances past every stamp it accepts, within a drift bound.

    A stamp further ahead of server time than `max_drift_ms` is clamped to the server's own
    next stamp (keeping the writer's node id): a client whose clock runs a day fast would
    otherwise win every last-writer-wins decision for a day.
    """

    def __init__(
        self, max_drift_ms: int, node: str = "server", wall: Callable[[], float] = time.time
    ) -> None:
        self.max_drift_ms = max_drift_ms
        self.node = node
        self._wall = wall
        self._last = Stamp(0, 0, node)

    def now(self) -> Stamp:
        return self._tick(None)

    def receive(self, stamp: Stamp) -> tuple[Stamp, bool]:
        """Advance past `stamp`; return the stamp to store and whether it was clamped."""
        wall_ms = int(self._wall() * 1000)
        if stamp.ms > wall_ms + self.max_drift_ms:
            own = self._tick(None)
            return Stamp(own.ms, own.counter, stamp.node), True
        self._tick(stamp)
        return stamp, False

    def _tick(self, seen: Stamp | None) -> Stamp:
        wall_ms = int(self._wall() * 1000)
        last = self._last
        ms = max(wall_ms, last.ms, seen.ms if seen else 0)
        if ms == last.ms and seen is not None and seen.ms == ms:
            counter = max(last.counter, seen.counter) + 1
        elif ms == last.ms:
            counter = last.counter + 1
        elif seen is not None and seen.ms == ms:
            counter = seen.counter + 1
        else:
            counter = 0
        if counter > MAX_COUNTER:  # a burst of 100k stamps in one ms: borrow the next ms
            ms, counter = ms + 1, 0
        self._last = Stamp(ms, counter, self.node)
        return self._last
