"""The client's hybrid logical clock, as docs/protocol.md defines it.

Stamps are ``"<13-digit ms>:<5-digit counter>:<node>"`` so that string order is clock order.
"""

from __future__ import annotations

import time


def format_hlc(ms: int, counter: int, node: str) -> str:
    return f"{ms:013d}:{counter:05d}:{node}"


def parse_hlc(stamp: str) -> tuple[int, int, str]:
    ms, counter, node = stamp.split(":", 2)
    return int(ms), int(counter), node


class HLC:
    def __init__(self, node: str) -> None:
        self.node = node
        self.ms = 0
        self.counter = 0

    def stamp(self) -> str:
        """A stamp for a local write: ms = max(now, last.ms); the counter grows when ms stayed."""
        now = int(time.time() * 1000)
        if now > self.ms:
            self.ms, self.counter = now, 0
        else:
            self.counter += 1
        return "%013d:%05d:%s" % (self.ms, self.counter, self.node)  # format_hlc, inlined

    def observe(self, stamp: str | None) -> None:
        """Advance past a received record's stamp so our next write orders after it."""
        if not stamp:
            return
        try:
            ms, counter, _ = parse_hlc(stamp)
        except ValueError:
            return
        self.ms, self.counter = max((self.ms, self.counter), (ms, counter))
