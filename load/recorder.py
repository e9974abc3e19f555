"""What the checker needs to know about a run: every mutation sent, every result received.

Clients log whole batches as they go (one list append per push: the log is on the hot path
of a push benchmark) and the per-mutation views are built when the checker first reads them.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class MutationKey(NamedTuple):
    """A mutation's identity. Made when the checker first reads the log, never while the run
    pushes (a NamedTuple costs more to build than a tuple: not on a hot path)."""

    client_id: str
    mid: int

Batch = tuple[str, list[dict[str, Any]]]  # (client_id, mutations or results)


class Sink(Protocol):
    """What clients record into: a ``Recorder`` (in memory) or a ``Journal`` (on disk)."""

    probes: list[dict[str, Any]]
    server_errors: list[tuple[str, int, str]]

    def sent(self, client_id: str, mutations: list[dict[str, Any]]) -> None: ...

    def answered(self, client_id: str, results: list[dict[str, Any]],
                 batch: list[dict[str, Any]] | None = None) -> None: ...

    def failed(self, client_id: str, batch: list[dict[str, Any]], status: int,
               detail: str) -> None: ...


class Recorder:
    def __init__(self) -> None:
        self._sent: list[Batch] = []
        self._answered: list[Batch] = []
        self._indexed = (0, 0)  # how much of each log the views below cover
        self._mutations: dict[MutationKey, dict[str, Any]] = {}
        self._results: dict[MutationKey, list[dict[str, Any]]] = {}
        self._sends: dict[MutationKey, int] = {}
        # push batches answered with an HTTP error: (client_id, mids, status, detail)
        self.failures: list[tuple[str, list[int], int, str]] = []
        # hostile requests outside the outbox (load/chaos/probes.py): one dict each, with
        # "name", "expected" (what a correct server answers) and "observed"
        self.probes: list[dict[str, Any]] = []
        # any 5xx answer or internal_error frame seen anywhere: (where, status, detail)
        self.server_errors: list[tuple[str, int, str]] = []
        # the conflicts audit of each space, read after the run (GET /v1/conflicts)
        self.audit: list[dict[str, Any]] | None = None

    def sent(self, client_id: str, mutations: list[dict[str, Any]]) -> None:
        self._sent.append((client_id, list(mutations)))

    def answered(self, client_id: str, results: list[dict[str, Any]],
                 batch: list[dict[str, Any]] | None = None) -> None:
        self._answered.append((client_id, results))

    def failed(self, client_id: str, batch: list[dict[str, Any]], status: int, detail: str) -> None:
        self.failures.append((client_id, [m.get("mid", -1) for m in batch], status, detail))
        if status >= 500:
            self.server_errors.append((f"push by {client_id}", status, detail))

    @property
    def batches(self) -> list[Batch]:
        """Every push batch as sent (replays included)."""
        return self._sent

    @property
    def mutations(self) -> dict[MutationKey, dict[str, Any]]:
        """Each mutation as first sent (a replay sends the same dict again)."""
        self._index()
        return self._mutations

    @property
    def results(self) -> dict[MutationKey, list[dict[str, Any]]]:
        """Every result received per mutation, in arrival order (replays add theirs)."""
        self._index()
        return self._results

    @property
    def sends(self) -> dict[MutationKey, int]:
        self._index()
        return self._sends

    def unanswered(self) -> list[MutationKey]:
        results = self.results
        return [key for key in self.mutations if key not in results]

    def _index(self) -> None:
        sent_done, answered_done = self._indexed
        for client_id, mutations in self._sent[sent_done:]:
            for mutation in mutations:
                key = MutationKey(client_id, mutation["mid"])
                self._mutations.setdefault(key, mutation)
                self._sends[key] = self._sends.get(key, 0) + 1
        for client_id, results in self._answered[answered_done:]:
            for result in results:
                key = MutationKey(client_id, result.get("mid", -1))
                self._results.setdefault(key, []).append(result)
        self._indexed = (len(self._sent), len(self._answered))
