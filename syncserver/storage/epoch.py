"""The database epoch: a random id, kept in the meta table, that names one history of the
database. Every cursor carries it, signed (cursor.py). Restoring a backup takes the
database back to seq numbers that clients' cursors have already passed; giving it a new
epoch at the same time makes those cursors answer 410 resync_required instead of silently
skipping the changes written after the restore.

`syncserver restore BACKUP --db PATH` copies a backup into place and gives it a new epoch
in one step; `syncserver new-epoch --db PATH` is for restores done by other means. Both
are meant for a stopped server: a running one keeps the epoch it read at start. Their file
work is SQLite's (storage/sqlite/epoch.py); the epochs themselves live in the database's
meta table, reached through any backend's write transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .base import PushTransaction

EPOCH = "epoch"
# The epoch of cursors issued before cursors carried one: the first epoch the database had.
LEGACY_EPOCH = "legacy_epoch"


class EpochError(Exception):
    """An operator's mistake (no such file, not a syncserver database): one line."""


@dataclass(frozen=True)
class Epochs:
    current: str
    legacy: str


def new_id() -> str:
    return secrets.token_hex(6)


def load_or_create(txn: PushTransaction) -> Epochs:
    """The database's epochs, created on first use (inside the caller's write transaction).
    A database that had no epoch yet may have issued pre-epoch cursors: they belong to the
    epoch it gets now."""
    current = txn.get_meta(EPOCH)
    if current is None:
        current = txn.add_meta(EPOCH, new_id())
        return Epochs(current, txn.add_meta(LEGACY_EPOCH, current))
    return Epochs(current, txn.get_meta(LEGACY_EPOCH) or "")


def renew(txn: PushTransaction) -> tuple[str, str]:
    """Give the database a new epoch (inside the caller's write transaction); (old, new)."""
    old = load_or_create(txn).current
    new = new_id()
    txn.set_meta(EPOCH, new)
    return old, new
