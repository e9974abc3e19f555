"""Live frames coalesced per connection: the fan-out's socket writes, one per connection
per flush, made in slices of the event loop.

A write to a socket costs far more than the Python around it (on loopback ~6-7 us of the
sender's CPU per `send`, the receiving side's TCP work included: docs/benchmarks.md), so a
publish does not write: for each caught-up subscriber it appends the batch's shared frame
to its connection's staged frames (`Outbox.offer_live`) and marks the connection dirty
here. One flush, scheduled once with `call_soon`, then writes each dirty connection's
staged frames in one write.

When the event loop keeps up, the flush runs on the loop's next turn and each write holds
one frame: latency as if written at once. When the fan-out falls behind (thousands of
sockets per batch), the flush goes through the dirty connections SLICE at a time, giving the
loop back between slices (pushes and reads go on); batches published meanwhile join the
frames still staged, so the connections further down get several frames in one write and
the cost per delivery falls toward one write per flush per connection.

Frames, writes and the changes in them are counted in plain integers and added to the
metrics once per slice (a Prometheus `inc` takes a lock): frames sent / writes is the
frames per write.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from ...config.metrics import Metrics

SLICE = 256  # connections written per turn of the event loop


class Staging(Protocol):
    """A connection with staged live frames (outbox.Outbox)."""

    def write_staged(self, tally: Tally) -> None: ...


class Tally:
    """What one flush slice wrote, added to the metrics at its end."""

    __slots__ = ("frames", "writes", "changes")

    def __init__(self) -> None:
        self.frames = 0
        self.writes = 0
        self.changes = 0

    def add_to(self, metrics: Metrics) -> None:
        if self.writes:
            metrics.ws_live_writes.inc(self.writes)
            metrics.ws_live_frames_sent.inc(self.frames)
            metrics.changes_served.inc(self.changes)


class Coalescer:
    """The dirty connections of one server (one event loop), in the order they got their
    first staged frame, and the flush that writes them."""

    def __init__(self, metrics: Metrics, slice_size: int = SLICE) -> None:
        self.metrics = metrics
        self.slice_size = slice_size
        self.dirty: deque[Staging] = deque()
        self.scheduled = False

    def mark(self, connection: Staging) -> None:
        """`connection` has staged frames now (it had none): written by the next flush."""
        self.dirty.append(connection)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write up to a slice of dirty connections; the rest on the loop's next turn."""
        dirty = self.dirty
        tally = Tally()
        for _ in range(min(self.slice_size, len(dirty))):
            dirty.popleft().write_staged(tally)
        if dirty:
            asyncio.get_running_loop().call_soon(self.flush)
        else:
            self.scheduled = False
        tally.add_to(self.metrics)
