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
4. every client equals the server for the spaces it follows, judged space by space: a
   client following several spaces (``--spaces-per-client``) is compared on each of them,
   and a space it no longer follows (revoked) is not expected of it;
5. conflicts are never silent and no older write replaces a newer one (check_chains.py),
   counters and sets settle as docs/conflicts.md defines (check_ops.py), hostile input is
   refused without harming its neighbours and nothing answers 5xx (check_hostile.py).

Pure functions over recorded data, so the checks are unit-tested on hand-made histories.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from load.check_chains import Step, check_audit, check_overrides
from load.check_hostile import check_hostile
from load.check_ops import History, RecordState, Write, check_ops, ops_fields
from load.check_ops import replay as replay_step
from load.recorder import MutationKey, Recorder
from load.replica import ClientStore, Key, space_of

Feed = dict[str, list[dict[str, Any]]]  # space -> changes from cursor zero, in feed order
MAX_LISTED = 200  # per kind; the total count is always exact


@dataclass
class ClientView:
    client_id: str
    spaces: list[str]
    store: Mapping[Key, Mapping[str, Any]]  # a ClientStore (load/replica.py) or a dict


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

    def merge(self, other: Verdict) -> None:
        """Add a part's verdict (the checker runs one partition of spaces at a time)."""
        self.counts.update(other.counts)
        for mine, theirs in ((self.anomalies, other.anomalies), (self.warnings, other.warnings)):
            shown = Counter(entry["kind"] for entry in mine)
            for entry in theirs:
                if shown[entry["kind"]] < MAX_LISTED:
                    mine.append(entry)
                    shown[entry["kind"]] += 1

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
        outcome[MutationKey(client_id, mid)] = first
        verdict.counts[f"outcome:{first.get('status')}"] += 1
        if any(r.get("duplicate") for r in results):
            verdict.counts["replays_deduplicated"] += 1
    for key in recorder.unanswered():
        verdict.add(
            "unanswered",
            client_id=key.client_id,
            mid=key.mid,
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


def _state(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (record["version"], bool(record.get("deleted")), record.get("data"))


def _shown(record: Mapping[str, Any]) -> tuple[int, bool]:
    """What an anomaly shows of a record: (version, deleted)."""
    return record["version"], bool(record.get("deleted"))


def _same(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    return _state(mine) == _state(theirs)


def check_histories(
    recorder: Recorder,
    outcome: dict[MutationKey, dict[str, Any]],
    final: dict[Key, dict[str, Any]],
    spaces: set[str],
    verdict: Verdict,
    audited: set[MutationKey] | None = None,
) -> None:
    """Rebuild every record from its acknowledged mutations and compare with the feed."""
    accepted: dict[Key, dict[int, list[MutationKey]]] = defaultdict(lambda: defaultdict(list))
    answered: dict[Key, History] = defaultdict(list)  # every settled mutation, for ops rules
    pending: Counter[Key] = Counter()
    tainted: set[Key] = set()
    for mkey, mutation in recorder.mutations.items():
        result = outcome.get(mkey)
        if "poison" in mutation:
            # judged by check_hostile; an accepted one leaves a version we cannot rebuild
            if result is not None and result.get("status") in ("applied", "merged"):
                with suppress(KeyError, TypeError):
                    tainted.add(_target(mutation))
            continue
        status = (result or {}).get("status")
        if result is None:
            pending[_target(mutation)] += 1
        elif status == "applied":
            accepted[_target(mutation)][result["version"]].append(mkey)
        elif status == "merged":
            accepted[_target(mutation)][result["record"]["version"]].append(mkey)
        if result is not None and status in ("applied", "merged", "conflict"):
            answered[_target(mutation)].append(Write(mkey.client_id, mutation, result))
    keys = set(accepted) | {key for key in final if space_of(key) in spaces}
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
        if key in tainted:
            verdict.warn("unverifiable", record=name(key), detail="a poison mutation was accepted")
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
        state = RecordState(None, False)
        steps = []
        for version in range(1, top + 1):
            mkey = versions[version][0]  # the first of its mutations (one, unless a collision)
            mutation, result = recorder.mutations[mkey], outcome[mkey]
            after = replay_step(state, mutation, result)
            steps.append(Step(mkey, mutation, result, state, after))
            state = after
        data, deleted = state
        if (data, deleted) != (record.get("data"), bool(record.get("deleted"))):
            verdict.add(
                "state_mismatch",
                record=name(key),
                version=top,
                expected={"deleted": deleted, "data": data},
                server={"deleted": record.get("deleted"), "data": record.get("data")},
            )
        skip = set(ops_fields([write.mutation for write in answered[key]]))
        check_overrides(name(key), steps, audited, skip, verdict.add)
        if not pending[key]:
            check_ops(name(key), answered[key], record, verdict.add, verdict.counts)
        last = outcome[versions[top][0]]
        last_seq = last["record"]["seq"] if last["status"] == "merged" else last.get("seq")
        if last_seq is not None and last_seq != record["seq"]:
            verdict.add(
                "seq_mismatch", record=name(key), acknowledged_seq=last_seq, feed_seq=record["seq"]
            )


def compare_stores(
    what: str,
    expected: Mapping[Key, dict[str, Any]],
    actual: Mapping[Key, Mapping[str, Any]],
    spaces: list[str],
    verdict: Verdict,
    verified: dict[int, bool] | None = None,
    **where: Any,
) -> set[str]:
    """Every record of ``spaces`` must be held alike; returns the spaces that are not.
    ``verified`` (id of a held state -> equal to the expected one), shared across the
    clients of a run, compares a state that many clients hold as one object
    (load/replica.py) once instead of once per client."""
    if verified is not None and isinstance(actual, ClientStore):
        # a caught-up client holds the shared states: one comparison per space
        spaces = [s for s in spaces if not actual.agrees_with(s, expected, _same, verified)]
        if not spaces:
            return set()
    wanted = set(spaces)
    keys = [key for key in expected if space_of(key) in wanted]
    keys += [key for key in actual if space_of(key) in wanted and key not in expected]
    bad = []
    for key in keys:
        mine, theirs = actual.get(key), expected.get(key)
        if mine is None or theirs is None:
            bad.append(key)
            continue
        if verified is None:
            same = _state(mine) == _state(theirs)
        else:
            same = verified.get(id(mine))  # type: ignore[assignment]
            if same is None:
                same = verified[id(mine)] = _state(mine) == _state(theirs)
        if not same:
            bad.append(key)
    for key in sorted(bad):
        mine, theirs = actual.get(key), expected.get(key)
        verdict.add(
            what,
            record=name(key),
            space=space_of(key),
            **where,
            holds=None if mine is None else _shown(mine),
            server=None if theirs is None else _shown(theirs),
        )
    return {space_of(key) for key in bad}


def check(
    recorder: Recorder, feeds: dict[str, Feed], clients: list[ClientView], spaces: list[str],
    whole_run: bool = True,
) -> Verdict:
    """``feeds``: label -> feed; the first one is the reference the others must equal.
    ``whole_run`` False: the recorder holds the history of ``spaces`` only (one partition of
    load/journal.py); the rules about the run as a whole are left to the caller."""
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
    audited = None
    if recorder.audit is None:
        if whole_run:
                verdict.warn("audit_unavailable", detail="the conflicts audit was not read")
    else:
        audited = {MutationKey(e["client_id"], e["mid"]) for e in recorder.audit}
        innocent = {k: (m, outcome[k]) for k, m in recorder.mutations.items()
                    if "poison" not in m and k in outcome}
        check_audit(innocent, audited, verdict.add, verdict.counts)
    check_histories(recorder, outcome, reference, set(spaces), verdict, audited)
    check_hostile(recorder, outcome, verdict.add, verdict.counts)
    if whole_run and not recorder.results:
        verdict.add("nothing_checked", detail="no mutation was acknowledged: nothing to verify")
    verified: dict[int, bool] = {}  # the states are alive in the stores: ids are stable
    followers: Counter[str] = Counter()
    diverged: set[str] = set()
    for view in clients:
        verdict.counts["clients_checked"] += 1
        followers.update(view.spaces)
        diverged |= compare_stores("client_diverged", reference, view.store, view.spaces,
                                   verdict, verified, client_id=view.client_id)
    # Per space: how many were judged, how many by several clients (each of which must hold
    # the server's state), and how many had a client that does not.
    verdict.counts["follows_checked"] += followers.total()
    verdict.counts["spaces_followed"] += len(followers)
    verdict.counts["spaces_shared"] += sum(1 for n in followers.values() if n > 1)
    if diverged:
        verdict.counts["spaces_diverged"] += len(diverged)
    return verdict
