"""What the checker needs to know about a run: every mutation sent, every result received."""

from __future__ import annotations

from typing import Any

MutationKey = tuple[str, int]  # (client_id, mid)


class Recorder:
    def __init__(self) -> None:
        self.mutations: dict[MutationKey, dict[str, Any]] = {}
        self.results: dict[MutationKey, list[dict[str, Any]]] = {}
        self.sends: dict[MutationKey, int] = {}

    def sent(self, client_id: str, mutations: list[dict[str, Any]]) -> None:
        for mutation in mutations:
            key = (client_id, mutation["mid"])
            # The first send is the mutation; a replay sends the same dict again.
            self.mutations.setdefault(key, mutation)
            self.sends[key] = self.sends.get(key, 0) + 1

    def answered(self, client_id: str, results: list[dict[str, Any]]) -> None:
        for result in results:
            self.results.setdefault((client_id, result.get("mid", -1)), []).append(result)

    def unanswered(self) -> list[MutationKey]:
        return [key for key in self.mutations if key not in self.results]
