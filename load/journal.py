"""The run's record of mutations and results, kept on disk and checked one part at a time.

Held in memory, the checker's inputs grow by about 1.5 KB per mutation (the mutation, its
data, its results, their indexes): 2.4 million mutations of a ten-minute soak would need
more memory than the machine has. The checker's rules never look across spaces (a record
lives in one space; a replay is the same mutation again), so the journal:

- appends every batch sent and every batch of results, as one orjson line, to the file of
  the batch's *partition* (spaces are spread over at most ``MAX_PARTITIONS`` files by
  index), in arrival order. On the push hot path that is one ``orjson.dumps`` of the batch
  and of its results (a few microseconds per mutation) and a buffered write;
- after the run, ``partitions()`` reads one file back at a time into an ordinary
  ``Recorder``: the checker runs on it, with the feed of that partition's spaces, and the
  memory is released before the next one. Peak memory is one partition's history instead
  of the whole run's.

A mutation whose space is not one of the run's (a poison one, aimed at a bad space name)
goes with its batch's first known space, so that it stays next to its innocent neighbours.
Probes, server errors and push failures are few and stay in memory; they go to the first
partition. The files live in a temporary directory, removed by ``close()``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from load.recorder import Recorder

MAX_PARTITIONS = 64
SENT, ANSWERED = 0, 1


def _portable(mutation: dict[str, Any]) -> dict[str, Any]:
    """A poison mutation as JSON can hold it: its hand-written bytes (``raw``) are left
    out, values orjson refuses (integers past 64 bits) become their repr. The checker reads
    only its target, ``poison`` and ``expect``."""
    out: dict[str, Any] = {}
    for name, value in mutation.items():
        if name == "raw":
            continue
        try:
            orjson.dumps(value)
            out[name] = value
        except (TypeError, orjson.JSONEncodeError):
            out[name] = repr(value)
    return out


def _dumps(entry: list[Any]) -> bytes:
    try:
        return orjson.dumps(entry)
    except (TypeError, orjson.JSONEncodeError):
        kind, client_id, items = entry
        return orjson.dumps([kind, client_id, [_portable(m) for m in items]])


class Journal:
    """Same recording interface as ``Recorder`` (sent, answered, failed, probes,
    server_errors, audit); the checker reads it through ``partitions()``."""

    def __init__(self, spaces: list[str], directory: Path | None = None,
                 partitions: int = MAX_PARTITIONS) -> None:
        count = max(1, min(partitions, len(spaces)))
        self.parts: list[list[str]] = [spaces[i::count] for i in range(count)]
        self._part_of = {space: i for i, part in enumerate(self.parts) for space in part}
        self._dir = Path(tempfile.mkdtemp(prefix="load-journal-", dir=directory))
        self._files: list[IO[bytes]] = [
            open(self._dir / f"part-{i}.jsonl", "wb", buffering=1 << 16)
            for i in range(count)
        ]
        self.mutations_sent = 0
        self.results_received = 0
        self.failures: list[tuple[str, list[int], int, str]] = []
        self.probes: list[dict[str, Any]] = []
        self.server_errors: list[tuple[str, int, str]] = []
        self.audit: list[dict[str, Any]] | None = None

    # -- recording (hot path) -------------------------------------------------------------

    def _partition(self, batch: list[dict[str, Any]]) -> dict[int, list[int]]:
        """Partition -> positions in the batch. Usually one partition for the whole batch."""
        default = None
        for m in batch:
            default = self._part_of.get(m.get("space"))  # type: ignore[arg-type]
            if default is not None:
                break
        groups: dict[int, list[int]] = {}
        for pos, m in enumerate(batch):
            part = self._part_of.get(m.get("space"), default)  # type: ignore[arg-type]
            groups.setdefault(part if part is not None else 0, []).append(pos)
        return groups

    def sent(self, client_id: str, mutations: list[dict[str, Any]]) -> None:
        self.mutations_sent += len(mutations)
        groups = self._partition(mutations)
        for part, positions in groups.items():
            items = mutations if len(groups) == 1 else [mutations[p] for p in positions]
            self._files[part].write(_dumps([SENT, client_id, items]) + b"\n")

    def answered(self, client_id: str, results: list[dict[str, Any]],
                 batch: list[dict[str, Any]] | None = None) -> None:
        self.results_received += len(results)
        groups = self._partition(batch or [])
        if len(groups) <= 1:
            part = next(iter(groups), 0)
            self._files[part].write(orjson.dumps([ANSWERED, client_id, results]) + b"\n")
            return
        where = {batch[p].get("mid"): part for part, ps in groups.items() for p in ps}  # type: ignore[index]
        split: dict[int, list[dict[str, Any]]] = {}
        for result in results:
            split.setdefault(where.get(result.get("mid"), 0), []).append(result)
        for part, items in split.items():
            self._files[part].write(orjson.dumps([ANSWERED, client_id, items]) + b"\n")

    def failed(self, client_id: str, batch: list[dict[str, Any]], status: int, detail: str) -> None:
        self.failures.append((client_id, [m.get("mid", -1) for m in batch], status, detail))
        if status >= 500:
            self.server_errors.append((f"push by {client_id}", status, detail))

    # -- reading (after the run) ----------------------------------------------------------

    def partitions(self) -> Iterator[tuple[list[str], Recorder]]:
        """(spaces, the recorder of their history), one partition at a time."""
        for f in self._files:
            f.flush()
        for i, spaces in enumerate(self.parts):
            recorder = Recorder()
            with open(self._dir / f"part-{i}.jsonl", "rb") as f:
                for line in f:
                    kind, client_id, items = orjson.loads(line)
                    if kind == SENT:
                        recorder.sent(client_id, items)
                    else:
                        recorder.answered(client_id, items)
            recorder.audit = self.audit
            if i == 0:
                recorder.failures = self.failures
                recorder.probes = self.probes
                recorder.server_errors = self.server_errors
            yield spaces, recorder

    def close(self) -> None:
        for f in self._files:
            f.close()
        shutil.rmtree(self._dir, ignore_errors=True)
