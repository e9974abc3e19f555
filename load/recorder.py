"""What the checker needs to know about a run: every mutation sent, every result received.

Clients log whole batches as they go (one list append per push: the log is on the hot path
of a push benchmark) and the per-mutation views are built when the checker first reads them.
"""

from __future__ import annotations

from typing import Any

MutationKey = tuple[str, int]  # (client_id, mid)
Batch = tuple[str, list[dict[str, Any]]]  # (client_id, mutations or results)


class Recorder:
    def __init__(self) -> None:
        self._sent: list[Batch] = []
        self._answered: list[Batch] = []
        self._indexed = (0, 0)  # how much of each log the views below cover
        self._mutations: dict[MutationKey, dict[str, Any]] = {}
        self._results: dict[MutationKey, list[dict[str, Any]]] = {}
        self._sends: dict[MutationKey, int] = {}

    def sent(self, client_id: str, mutations: list[dict[str, Any]]) -> None:
        self._sent.append((client_id, list(mutations)))

    def answered(self, client_id: str, results: list[dict[str, Any]]) -> None:
        self._answered.append((client_id, results))

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
                key = (client_id, mutation["mid"])
                self._mutations.setdefault(key, mutation)
                self._sends[key] = self._sends.get(key, 0) + 1
        for client_id, results in self._answered[answered_done:]:
            for result in results:
                self._results.setdefault((client_id, result.get("mid", -1)), []).append(result)
        self._indexed = (len(self._sent), len(self._answered))
