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
        self.ws_subscriptions = Gauge(
            "syncserver_ws_subscriptions",
            "WebSocket subscriptions held now, over all connections (at most "
            "SYNCSERVER_MAX_SUBSCRIPTIONS)", registry=self.registry)
        self.long_polls_waiting = Gauge("syncserver_long_polls_waiting",
                                        "Long-polls waiting for a change now",
                                        registry=self.registry)
        self.ws_slow_consumers = Counter("syncserver_ws_slow_consumers",
                                         "WebSocket connections closed as slow consumers",
                                         registry=self.registry)
        self.ws_live_frames_encoded = Counter(
            "syncserver_ws_live_frames_encoded",
            "Live WebSocket frames encoded: once per committed batch and collection filter, "
            "however many subscribers it goes to", registry=self.registry)
        self.ws_live_frames_sent = Counter(
            "syncserver_ws_live_frames_sent",
            "Live WebSocket frames sent to subscribers, each the bytes of an encoded one",
            registry=self.registry)
        self.ws_live_writes = Counter(
            "syncserver_ws_live_writes",
            "Socket writes of live WebSocket frames: several frames of one connection go in "
            "one write when batches come faster than the writes (frames sent / writes: "
            "frames per write)", registry=self.registry)
        self.ws_pending_bytes = Gauge(
            "syncserver_ws_pending_bytes",
            "Bytes of live changes waiting in WebSocket subscriptions for room in their "
            "connection's queue (each connection's share counts against "
            "SYNCSERVER_WS_MAX_QUEUED_BYTES)", registry=self.registry)
        self.limited = Counter("syncserver_limited", "Requests refused by a per-user limit",
                               ["code"], registry=self.registry)
        self.request_seconds = Histogram("syncserver_request_seconds",
                                         "HTTP request latency by route",
                                         ["route", "method"], registry=self.registry,
                                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25,
                                                  .5, 1, 2.5, 5, 10, 30, 60))

        # The fan-out between instances (PostgreSQL only, fanout.py).
        self.fanout_notifications = Counter(
            "syncserver_fanout_notifications",
            "Change notifications received from other instances", registry=self.registry)
        self.fanout_malformed = Counter(
            "syncserver_fanout_malformed", "Malformed change notifications ignored",
            registry=self.registry)
        self.fanout_ranges_read = Counter(
            "syncserver_fanout_ranges_read",
            "Ranges of changes read once and published to this instance's subscribers",
            registry=self.registry)
        self.fanout_checks = Counter(
            "syncserver_fanout_checks",
            "Periodic catch-up checks of the feeds this instance serves against the database",
            registry=self.registry)
        self.fanout_behind = Counter(
            "syncserver_fanout_behind",
            "Feeds a periodic check found behind the database (a notification lost or "
            "still on its way)", registry=self.registry)
        self.fanout_reconnects = Counter(
            "syncserver_fanout_reconnects",
            "Times the listening connection was made again after it was lost",
            registry=self.registry)
        self.fanout_listening = Gauge(
            "syncserver_fanout_listening",
            "1 while the listening connection is up", registry=self.registry)

        # Web Push (syncserver/webpush/).
        self.webpush_sent = Counter(
            "syncserver_webpush_sent", "Pushes a push service accepted, by kind (sync, notify)",
            ["kind"], registry=self.registry)
        self.webpush_coalesced = Counter(
            "syncserver_webpush_coalesced",
            "Sync nudges folded into a later one (the device's interval, or one still waiting "
            "in the queue)", registry=self.registry)
        self.webpush_failed = Counter(
            "syncserver_webpush_failed",
            "Pushes given up: refused by the push service, or retried too often",
            registry=self.registry)
        self.webpush_retries = Counter(
            "syncserver_webpush_retries", "Pushes sent again after a 429, a 5xx or no answer",
            registry=self.registry)
        self.webpush_dropped = Counter(
            "syncserver_webpush_dropped",
            "Pushes dropped unsent because the queue was full (the oldest first)",
            registry=self.registry)
        self.webpush_subscriptions_dropped = Counter(
            "syncserver_webpush_subscriptions_dropped",
            "Push subscriptions removed because their push service answered 404 or 410",
            registry=self.registry)
        self.webpush_space_count = Gauge(
            "syncserver_webpush_space_count",
            "Count of space names with a push subscription, as this instance knows them "
            "(its index)",
            registry=self.registry)
        self.webpush_queue_depth = Gauge(
            "syncserver_webpush_queue_depth",
            "Pushes waiting to be sent (queued or waiting to be retried)",
            registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
