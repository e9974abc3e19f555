"""Prometheus metrics, one registry per app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.mutations = Counter("syncserver_mutations", "Mutations by result status",
                                 ["status"], registry=self.registry)
        self.changes_served = Counter("syncserver_changes_served",
                                      "Changes sent over HTTP pull and WebSocket",
                                      registry=self.registry)
        self.ws_connections = Gauge("syncserver_ws_connections", "Open WebSocket connections",
                                    registry=self.registry)
        self.ws_slow_consumers = Counter("syncserver_ws_slow_consumers",
                                         "WebSocket connections closed as slow consumers",
                                         registry=self.registry)
        self.limited = Counter("syncserver_limited", "Requests refused by a per-user limit",
                               ["code"], registry=self.registry)
        self.request_seconds = Histogram("syncserver_request_seconds",
                                         "HTTP request latency by route",
                                         ["route", "method"], registry=self.registry,
                                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25,
                                                  .5, 1, 2.5, 5, 10, 30, 60))

    def render(self) -> bytes:
        return generate_latest(self.registry)
