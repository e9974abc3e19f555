"""Checker rules for hostile input (guarantees 3 and 9, docs/guarantees.md).

- ``poison_accepted``: a poison mutation (load/chaos/poison.py: deep nesting, integers
  beyond 64 bits, unknown ops, wrong types, oversized data, a bad operation, a spoofed HLC
  node) was not answered ``rejected``.
- ``innocent_not_settled``: an innocent mutation sent in the same batch as a poison one
  was never settled (``applied``, ``merged`` or ``conflict``): the poison blocked it.
- ``probe_mishandled``: a hostile request outside the outbox (load/chaos/probes.py:
  garbage bodies, bad cursors, garbage WebSocket frames) did not get the clear 4xx answer,
  error frame or close code the protocol promises.
- ``server_error``: any 5xx answer, or ``internal_error`` frame, anywhere in the run.
"""

from __future__ import annotations

from typing import Any

from load.recorder import MutationKey, Recorder

SETTLED = ("applied", "merged", "conflict")


def check_hostile(recorder: Recorder, outcome: dict[MutationKey, dict[str, Any]], add: Any,
                  counts: Any) -> None:
    poison = {k for k, m in recorder.mutations.items() if "poison" in m}
    for mkey in sorted(poison):
        result = outcome.get(mkey)
        if result is None:
            continue  # reported as unanswered
        counts["poison_checked"] += 1
        if result.get("status") != "rejected":
            mutation = recorder.mutations[mkey]
            add("poison_accepted", client_id=mkey.client_id, mid=mkey.mid,
                poison=mutation["poison"], result={k: v for k, v in result.items()
                                                   if k != "record"})
    neighbours: set[MutationKey] = set()
    for client_id, batch in recorder.batches:
        if any("poison" in m for m in batch):
            neighbours.update(MutationKey(client_id, m["mid"]) for m in batch
                              if "poison" not in m)
    for mkey in sorted(neighbours):
        counts["poison_neighbours_checked"] += 1
        status = (outcome.get(mkey) or {}).get("status")
        if status not in SETTLED:
            add("innocent_not_settled", client_id=mkey.client_id, mid=mkey.mid, status=status,
                detail="sent in a batch with a poison mutation and never settled")
    for probe in recorder.probes:
        counts["probes_checked"] += 1
        if not probe["ok"]:
            add("probe_mishandled", **probe)
    for where, status, detail in recorder.server_errors:
        add("server_error", where=where, status=status, detail=detail[:300])
