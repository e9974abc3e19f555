"""Latency histograms, throughput over time and error counts.

Latencies go into log-spaced buckets (1% wide) instead of a list of samples: a fan-out run
with 1,000 subscribers records millions of deliveries, and percentiles within 1% are plenty.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from typing import Any

from load.glossary import ANSWERED, NEW, REPLAYED

_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_MIN_SECONDS = 1e-6  # everything below 1 microsecond lands in bucket 0


class Histogram:
    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    def add(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        index = (
            0 if seconds <= _MIN_SECONDS else int(math.log(seconds / _MIN_SECONDS) / _LOG_GROWTH)
        )
        self.buckets[index] += 1
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.min = min(self.min, seconds)

    @staticmethod
    def bucket_value(index: int) -> float:
        """The upper edge of a bucket, in seconds."""
        return _MIN_SECONDS * _GROWTH ** (index + 1)

    def percentile(self, p: float) -> float:
        if not self.count:
            return 0.0
        rank = math.ceil(p / 100 * self.count)
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.bucket_value(index), self.max)
        return self.max

    def summary(self) -> dict[str, float | int]:
        """Milliseconds, rounded for reading."""

        def ms(value: float) -> float:
            return round(value * 1000, 3)

        return {
            "count": self.count,
            "mean_ms": ms(self.total / self.count) if self.count else 0.0,
            "p50_ms": ms(self.percentile(50)),
            "p95_ms": ms(self.percentile(95)),
            "p99_ms": ms(self.percentile(99)),
            "max_ms": ms(self.max),
        }

    def distribution(self) -> list[tuple[float, int]]:
        """(upper edge in ms, count) pairs, for the report's histogram plot."""
        return [(self.bucket_value(i) * 1000, self.buckets[i]) for i in sorted(self.buckets)]


HALF_A_SECOND = 0.5


def per_second(counts: list[int], end_s: float) -> tuple[list[float], str]:
    """Counts per whole second since the start (``results.timeline``) as rates for a chart,
    up to the end of the run, with a note on how the last second was drawn.

    The run rarely ends on a whole second: its last bucket then covers only part of one, and
    drawn as it is, it looks like a collapse of throughput at the end. When that part is at
    least half a second, its count is scaled to a per-second rate; when shorter (too few
    events to scale honestly), the bucket is left out. Seconds in between without events
    stay at zero: those are real (the load phase ended, a stall)."""
    whole = int(end_s)
    partial = round(end_s - whole, 3)
    rates: list[float] = [float(c) for c in counts[:whole]]
    rates += [0.0] * (whole - len(rates))
    if partial <= 0:
        return rates, ""
    last = counts[whole] if whole < len(counts) else 0
    if partial >= HALF_A_SECOND:
        rates.append(last / partial)
        return rates, (f"the last second of the run lasted {partial:g} s: its count is "
                       f"scaled to a per-second rate")
    return rates, (f"the last second of the run lasted {partial:g} s: left out (too short "
                   f"to scale to a rate)")


class Stats:
    """Everything a run measures. Single-threaded (one asyncio loop), so no locks."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.latency: dict[str, Histogram] = defaultdict(Histogram)
        # per operation (e.g. "mutations", "changes_pulled"), per whole second since start
        self.timeline: dict[str, Counter[int]] = defaultdict(Counter)
        self.worst: dict[str, dict[int, float]] = defaultdict(dict)
        self.totals: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.error_samples: dict[str, str] = {}
        self.outcomes: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}
        self.finished: float | None = None
        self.load_totals: Counter[str] | None = None  # the totals when the load phase ended

    def observe(self, op: str, seconds: float) -> None:
        self.latency[op].add(seconds)
        # the worst latency of each second: shows whether a tail is steady or a few stalls
        second = int(time.monotonic() - self.started)
        worst = self.worst[op]
        if seconds > worst.get(second, 0.0):
            worst[second] = seconds

    def count(self, what: str, n: int = 1) -> None:
        self.totals[what] += n
        self.timeline[what][int(time.monotonic() - self.started)] += n

    def answered(self, first: int, total: int) -> None:
        """A push was answered: ``total`` mutations, ``first`` of them acknowledged for the
        first time, the rest replays (see load/glossary.py for the words)."""
        self.count(ANSWERED, total)
        self.count(NEW, first)
        if total > first:
            self.count(REPLAYED, total - first)

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if detail and kind not in self.error_samples:
            self.error_samples[kind] = detail[:500]

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def finish(self) -> None:
        self.finished = time.monotonic()

    def end_load_phase(self) -> None:
        """Rates per second are over the load phase: what the settle phase adds afterwards
        (outbox flushes, final pulls) is in the totals only."""
        self.load_totals = Counter(self.totals)

    def to_json(self, measured_seconds: float | None = None) -> dict[str, Any]:
        seconds = measured_seconds or self.elapsed() or 1e-9
        in_load = self.load_totals if self.load_totals is not None else self.totals
        return {
            "elapsed_s": round(self.elapsed(), 3),
            "totals": dict(self.totals),
            "totals_load_phase": {k: in_load.get(k, 0) for k in self.totals},
            "throughput_per_s": {k: round(in_load.get(k, 0) / seconds, 1) for k in self.totals},
            "latency_ms": {op: h.summary() for op, h in sorted(self.latency.items())},
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
            "outcomes": dict(self.outcomes),
            "worst_ms_per_second": {
                op: [round(w.get(s, 0.0) * 1000, 1) for s in range(max(w, default=-1) + 1)]
                for op, w in self.worst.items()
            },
            "timeline": {
                what: [counts.get(s, 0) for s in range(max(counts, default=-1) + 1)]
                for what, counts in self.timeline.items()
            },
            **self.extra,
        }
