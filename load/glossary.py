"""What each count means, in one place: the progress bar, report.html and docs/load.md use
the same words.

"Mutations" is the word that needs care. A mutation is one write of one simulated client,
named by ``(client_id, mid)``; the tool may send it more than once (an offline replay sent
twice, a resend after a lost response, the outbox flush at the end). So:

- **new mutations** (``mutations_new``): mutations acknowledged for the first time, each
  write counted once: replays excluded;
- **replayed mutations** (``mutations_replayed``): answers to a mutation that had already
  been acknowledged: replays only;
- **mutations answered** (``mutations``): every mutation in a push the server answered,
  new + replayed: replays included (what the server processed, a lost response aside).
"""

from __future__ import annotations

from typing import NamedTuple

NEW, REPLAYED, ANSWERED = "mutations_new", "mutations_replayed", "mutations"


class Total(NamedTuple):
    label: str
    meaning: str


# results.totals: name -> what it is
TOTALS: dict[str, Total] = {
    NEW: Total("new mutations",
               "acknowledged for the first time, each write once (replays excluded)"),
    REPLAYED: Total(
        "replayed mutations",
        "answers to a mutation already acknowledged: double sends, outbox flushes (replays only)",
    ),
    ANSWERED: Total(
        "mutations answered",
        "every mutation in a push answered by the server: new + replayed (replays included)",
    ),
    "push_requests": Total("push requests", "pushes answered 200 (replays included)"),
    "changes_pulled": Total("changes pulled", "changes read over HTTP by the clients' pulls"),
    "changes_delivered": Total("changes delivered", "changes received over the WebSocket"),
    "deliveries": Total("fan-out deliveries", "write-to-subscriber deliveries (fanout)"),
    "initial_sync_records": Total("initial-sync records", "records read by the fresh readers"),
    "lost_responses": Total("lost responses", "replays whose response was dropped and re-sent"),
    "double_sends": Total("double sends", "replays deliberately sent twice"),
    "dropped_responses": Total("dropped responses", "pushes sent without reading the answer"),
    "batches_split": Total("batches split", "batches answered 413 and sent again in halves"),
    "slow_consumer_closes": Total("slow-consumer closes", "WebSocket closes with 4408"),
    "slow_consumer_resyncs": Total("slow-consumer resyncs", "resync messages to slow consumers"),
    "poison_sent": Total("poison mutations sent", "hostile mutations among innocent ones"),
    "forbidden_rejections": Total(
        "forbidden rejections",
        "--read-only-clients: mutations answered rejected/forbidden, as their token says",
    ),
    "probes_sent": Total("hostile probes sent", "malformed requests outside the outbox"),
    "revocations": Total("revocations", "--revocations: token refreshes that took a space away"),
    "grants": Total("grants", "--revocations: token refreshes that gave a revoked space back"),
    "subscriptions_ended_forbidden": Total(
        "subscriptions ended forbidden",
        "revoked spaces whose WebSocket subscription the server ended with `forbidden`",
    ),
    "frames_after_revocation": Total(
        "frames after revocation",
        "frames of a revoked space that arrived before its `forbidden` end (dropped)",
    ),
    "revoked_pulls_forbidden": Total(
        "revoked pulls forbidden", "POST /v1/pull entries of a revoked space, `forbidden`"),
    "revoked_writes_forbidden": Total(
        "revoked writes forbidden", "writes to a revoked space answered rejected/forbidden"),
}

# convergence.counts: name -> meaning (anomaly:* and warning:* are in docs/load.md's table)
COUNTS: dict[str, str] = {
    "mutations": "distinct mutations sent, each (client, mid) once, answered or not "
    "(replays excluded)",
    "replays_deduplicated": "mutations sent more than once whose replays got the stored "
    "result back (each mutation once, however many replays)",
    "records_checked": "records whose history was replayed against the feed",
    "clients_checked": "clients whose final copy was compared with the server's",
    "counters_checked": "counter fields ($inc) checked",
    "sets_checked": "set fields ($add/$remove) checked",
    "overrides_checked": "overridden writes looked up in the conflicts audit",
    "poison_checked": "poison mutations checked for their rejection",
    "poison_neighbours_checked": "innocent mutations next to poison ones checked",
    "probes_checked": "hostile requests checked for their documented answer",
    "follows_checked": "(client, space) pairs compared: each client on each space it follows "
    "at the end",
    "spaces_followed": "spaces followed by at least one client at the end",
    "spaces_shared": "spaces followed by two clients or more at the end (each must hold the "
    "server's state)",
    "spaces_diverged": "spaces of which some client holds something else than the server",
}


def total_label(name: str) -> str:
    total = TOTALS.get(name)
    return total.label if total is not None else name.replace("_", " ")


def total_meaning(name: str) -> str:
    total = TOTALS.get(name)
    return total.meaning if total is not None else ""


def count_meaning(name: str) -> str:
    kind, _, rest = name.partition(":")
    if kind == "outcome":
        return f"distinct mutations whose first outcome was {rest} (replays excluded)"
    if kind == "anomaly":
        return "anomaly: see docs/load.md"
    if kind == "warning":
        return "warning: see docs/load.md"
    return COUNTS.get(name, "")
