"""What a push transaction keeps until its flush, on every backend: the heads its seqs moved
the spaces to, the records' new rows (a later write of a key in the batch wins) and the
mutations' results. Both backends write them in a few statements at the end of the batch
rather than one per mutation."""

from __future__ import annotations

import orjson

from ..model.mutations import Mutation
from ..model.records import RecordKey, Row
from . import mutation_log

# The records table's columns in the order of a Row (records.py).
RECORD_COLUMNS = ("space, collection, id, version, seq, deleted, hlc, updated_at, data, meta, "
                  "change, owner")


class WriteBuffer:
    def __init__(self) -> None:
        self.heads: dict[str, int] = {}  # head of each space after this transaction's seqs
        self.rows: dict[RecordKey, Row] = {}
        self.results: dict[str, list[mutation_log.Entry]] = {}
        self.results_at = 0

    def write_row(self, key: RecordKey, row: Row) -> None:
        self.rows[key] = row  # a later write in the batch wins

    def write_results(self, client_id: str, entries: list[mutation_log.Entry],
                      created_at: int) -> None:
        self.results.setdefault(client_id, []).extend(entries)
        self.results_at = created_at


def conflict_client(m: Mutation) -> str:
    """The client's side of a conflict, as the audit stores it (JSON text)."""
    return orjson.dumps({"mid": m.mid, "op": m.op, "data": m.data,
                         "base_version": m.base_version, "hlc": m.hlc}).decode()
