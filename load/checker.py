"""The convergence checker.

Inputs: every mutation sent and every result received (the Recorder), the server's feed
read from cursor zero (from every server URL, and twice with different page sizes), and what
every simulated client finally holds. It verifies:

1. replays are harmless: a replayed (client_id, mid) gets the first result back marked
   ``duplicate``, never a second, fresh outcome;
2. every acknowledged mutation has an outcome and is reflected: the ``applied``/``merged``
   results on a record are exactly its versions 1..n (every accepted change adds one to
   ``version``), so no acknowledged write is missing and none was applied twice; replaying
   those mutations in version order rebuilds the record the feed holds;
3. the feed is well-formed (each record once, seq increasing) and the same whatever the page
   size and whichever instance serves it;
4. every client equals the server for the spaces it follows.

Pure functions over recorded data, so the checks are unit-tested on hand-made histories.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from load.merge import apply_op, as_number, increment_of
from load.recorder import MutationKey, Recorder

Key = tuple[str, str, str]
Feed = dict[str, list[dict[str, Any]]]  # space -> changes from cursor zero, in feed order
MAX_LISTED = 200  # per kind; the total count is always exact


@dataclass
class ClientView:
    client_id: str
    spaces: list[str]
    store: dict[Key, dict[str, Any]]


@dataclass
class Verdict:
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def add(self, kind: str, **detail: Any) -> None:
        self.counts[f"anomaly:{kind}"] += 1
        if self.counts[f"anomaly:{kind}"] <= MAX_LISTED:
            self.anomalies.append({"kind": kind, **detail})

    def warn(self, kind: str, **detail: Any) -> None:
        self.counts[f"warning:{kind}"] += 1
        if self.counts[f"warning:{kind}"] <= MAX_LISTED:
            self.warnings.append({"kind": kind, **detail})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": "clean" if self.ok else "anomalies",
            "counts": dict(sorted(self.counts.items())),
            "anomalies": self.anomalies,
            "warnings": self.warnings,
        }


def name(key: Key) -> str:
    return "/".join(key)


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "duplicate"}


def canonical_results(recorder: Recorder, verdict: Verdict) -> dict[MutationKey, dict[str, Any]]:
    """One outcome per mutation, checking that replays got the first outcome back."""
    outcome: dict[MutationKey, dict[str, Any]] = {}
    for (client_id, mid), results in recorder.results.items():
        where = {"client_id": client_id, "mid": mid}
        fresh = [r for r in results if not r.get("duplicate")]
        if len(fresh) > 1:
            applied = [r for r in fresh if r.get("status") in ("applied", "merged")]
            kind = "applied_twice" if len(applied) > 1 else "replay_not_deduplicated"
            verdict.add(kind, **where, results=fresh)
        first = _strip(fresh[0] if fresh else results[0])
        for replay in results:
            if replay.get("duplicate") and _strip(replay) != first:
                verdict.add("replay_result_differs", **where, first=first, replay=replay)
            if replay.get("code") == "mutation_id_reused":
                verdict.add("replay_rejected", **where, result=replay)
        outcome[(client_id, mid)] = first
        verdict.counts[f"outcome:{first.get('status')}"] += 1
        if any(r.get("duplicate") for r in results):
            verdict.counts["replays_deduplicated"] += 1
    for key in recorder.unanswered():
        verdict.add(
            "unanswered",
            client_id=key[0],
            mid=key[1],
            detail="no result was ever received for this mutation",
        )
    return outcome


def _target(mutation: dict[str, Any]) -> Key:
    return (mutation["space"], mutation["collection"], mutation["id"])


def _feed_records(feed: Feed) -> dict[Key, dict[str, Any]]:
    return {(c["space"], c["collection"], c["id"]): c for changes in feed.values() for c in changes}


def check_feed_shape(label: str, feed: Feed, verdict: Verdict) -> None:
    for space, changes in feed.items():
        seen: set[Key] = set()
        last_seq = 0
        for change in changes:
            key = (change["space"], change["collection"], change["id"])
            if change["space"] != space:
                verdict.add("feed_wrong_space", feed=label, record=name(key), space=space)
            if key in seen:
                verdict.add("feed_duplicate", feed=label, record=name(key))
            seen.add(key)
            if change["seq"] <= last_seq:
                verdict.add(
                    "feed_out_of_order",
                    feed=label,
                    record=name(key),
                    seq=change["seq"],
                    after=last_seq,
                )
            last_seq = change["seq"]


def _state(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["version"], bool(record.get("deleted")), record.get("data"))


def check_histories(
    recorder: Recorder,
    outcome: dict[MutationKey, dict[str, Any]],
    final: dict[Key, dict[str, Any]],
    spaces: set[str],
    verdict: Verdict,
) -> None:
    """Rebuild every record from its acknowledged mutations and compare with the feed."""
    accepted: dict[Key, dict[int, list[MutationKey]]] = defaultdict(lambda: defaultdict(list))
    pending: Counter[Key] = Counter()
    for mkey, mutation in recorder.mutations.items():
        result = outcome.get(mkey)
        if result is None:
            pending[_target(mutation)] += 1
        elif result.get("status") == "applied":
            accepted[_target(mutation)][result["version"]].append(mkey)
        elif result.get("status") == "merged":
            accepted[_target(mutation)][result["record"]["version"]].append(mkey)
    keys = set(accepted) | {k for k in final if k[0] in spaces}
    for key in sorted(keys):
        verdict.counts["records_checked"] += 1
        versions = accepted.get(key, {})
        record = final.get(key)
        for version, mkeys in versions.items():
            if len(mkeys) > 1:
                verdict.add(
                    "version_collision",
                    record=name(key),
                    version=version,
                    mutations=[list(k) for k in mkeys],
                )
        if record is None:
            verdict.add(
                "missing_record",
                record=name(key),
                detail=f"{len(versions)} acknowledged writes, record absent from the feed",
            )
            continue
        top = record["version"]
        if versions and max(versions) > top:
            verdict.add(
                "lost_write",
                record=name(key),
                server_version=top,
                acknowledged_version=max(versions),
            )
            continue
        gaps = [v for v in range(1, top + 1) if v not in versions]
        if gaps:
            if pending[key]:
                verdict.warn("unverifiable", record=name(key), versions=gaps[:20])
            else:
                verdict.add(
                    "unacknowledged_version",
                    record=name(key),
                    versions=gaps[:20],
                    detail="the server holds versions no acknowledged mutation created "
                    "(a mutation applied twice, or a write from nowhere)",
                )
            continue
        data: Any = None
        deleted = False
        for version in range(1, top + 1):
            mkey = versions[version][0]
            result = outcome[mkey]
            if result["status"] == "merged":
                data, deleted = result["record"].get("data"), bool(result["record"].get("deleted"))
            else:
                mutation = recorder.mutations[mkey]
                data, deleted = apply_op(data, deleted, mutation["op"], mutation.get("data"))
        if (data, deleted) != (record.get("data"), bool(record.get("deleted"))):
            verdict.add(
                "state_mismatch",
                record=name(key),
                version=top,
                expected={"deleted": deleted, "data": data},
                server={"deleted": record.get("deleted"), "data": record.get("data")},
            )
        check_counters(
            key, [recorder.mutations[versions[v][0]] for v in range(1, top + 1)], record, verdict
        )
        last = outcome[versions[top][0]]
        last_seq = last["record"]["seq"] if last["status"] == "merged" else last.get("seq")
        if last_seq is not None and last_seq != record["seq"]:
            verdict.add(
                "seq_mismatch", record=name(key), acknowledged_seq=last_seq, feed_seq=record["seq"]
            )


def check_counters(
    key: Key, accepted: list[dict[str, Any]], record: dict[str, Any], verdict: Verdict
) -> None:
    """A record created by a put and then only incremented: its counters must equal the
    put's values plus every acknowledged increment, each once. Unlike the replay above this
    also covers increments the server answered ``merged`` (a stale base never stops one)."""
    if len(accepted) < 2 or accepted[0]["op"] != "put" or record.get("deleted"):
        return
    expected = dict(accepted[0].get("data") or {})
    for mutation in accepted[1:]:
        patch = mutation.get("data")
        if mutation["op"] != "patch" or not isinstance(patch, dict):
            return
        for name_, value in patch.items():
            amount = increment_of(value)
            if amount is None:
                return
            expected[name_] = as_number(expected.get(name_)) + amount
    verdict.counts["counters_checked"] += 1
    data = record.get("data") or {}
    wrong = {f: [v, data.get(f)] for f, v in expected.items() if data.get(f) != v}
    if wrong:
        verdict.add(
            "counter_mismatch",
            record=name(key),
            fields=wrong,
            detail="[put value + acknowledged increments, server value]",
        )


def compare_stores(
    what: str,
    expected: dict[Key, dict[str, Any]],
    actual: dict[Key, dict[str, Any]],
    spaces: list[str],
    verdict: Verdict,
    **where: Any,
) -> None:
    wanted = set(spaces)
    for key in sorted(
        {k for k in expected if k[0] in wanted} | {k for k in actual if k[0] in wanted}
    ):
        mine, theirs = actual.get(key), expected.get(key)
        if mine is None or theirs is None or _state(mine) != _state(theirs):
            verdict.add(
                what,
                record=name(key),
                **where,
                holds=None if mine is None else _state(mine)[:2],
                server=None if theirs is None else _state(theirs)[:2],
            )


def check(
    recorder: Recorder, feeds: dict[str, Feed], clients: list[ClientView], spaces: list[str]
) -> Verdict:
    """``feeds``: label -> feed; the first one is the reference the others must equal."""
    verdict = Verdict()
    outcome = canonical_results(recorder, verdict)
    verdict.counts["mutations"] = len(recorder.mutations)
    labels = list(feeds)
    reference = _feed_records(feeds[labels[0]])
    for label in labels:
        check_feed_shape(label, feeds[label], verdict)
        if label != labels[0]:
            compare_stores(
                "feed_mismatch",
                reference,
                _feed_records(feeds[label]),
                spaces,
                verdict,
                feed=label,
                reference=labels[0],
            )
    check_histories(recorder, outcome, reference, set(spaces), verdict)
    if not recorder.results:
        verdict.add("nothing_checked", detail="no mutation was acknowledged: nothing to verify")
    for view in clients:
        verdict.counts["clients_checked"] += 1
        compare_stores(
            "client_diverged", reference, view.store, view.spaces, verdict, client_id=view.client_id
        )
    return verdict
