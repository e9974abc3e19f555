"""Opaque, signed cursors: "<seq>.<epoch>.<tag>", tag = HMAC(secret, space, epoch, seq).

Signing binds a cursor to its space and lets the server tell a forged or mangled cursor
(400 bad_cursor) from a real one, on any instance that shares the secret. The epoch names
the database's history (syncserver/storage/epoch.py): a cursor signed for another epoch was issued
before a restore, its seq may name changes this database never had, and it answers
410 resync_required.

Cursors issued before epochs existed ("<seq>.<tag>", tag = HMAC(secret, space, seq)) are
accepted while the database is still in the epoch it was given when epochs came in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..model.errors import ErrorCode, SyncError

MAX_CURSOR = 64


class CursorCodec:
    def __init__(self, secret: bytes, epoch: str = "", legacy_epoch: str = "") -> None:
        self._secret = secret
        self.epoch = epoch
        # the epoch that unversioned (pre-epoch) cursors belong to
        self.legacy_epoch = legacy_epoch

    def _tag(self, space: str, seq: int, epoch: str | None) -> bytes:
        message = f"{space}\x00{seq}" if epoch is None else f"{space}\x00{epoch}\x00{seq}"
        mac = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:9])

    def encode(self, space: str, seq: int) -> str:
        return f"{seq}.{self.epoch}.{self._tag(space, seq, self.epoch).decode()}"

    def decode(self, space: str, cursor: str | None) -> int:
        """The seq a cursor stands for; the empty cursor is 0 (from the start).

        Raises SyncError bad_cursor for anything this server did not issue for `space`,
        and resync_required for a cursor of another epoch (a restored database)."""
        if cursor is None or cursor == "":
            return 0
        # Checked first: everything after works on ASCII only (compare_digest refuses
        # non-ASCII str, int() accepts non-ASCII digits).
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not cursor.isascii():
            raise SyncError(ErrorCode.BAD_CURSOR, "a cursor is a string this server issued")
        parts = cursor.split(".")
        if len(parts) == 3:
            seq_text, epoch, tag = parts
        elif len(parts) == 2:
            (seq_text, tag), epoch = parts, None
        else:
            raise SyncError(ErrorCode.BAD_CURSOR, f"malformed cursor {cursor!r}")
        if not seq_text.isdigit() or len(seq_text) > 18:
            raise SyncError(ErrorCode.BAD_CURSOR, f"malformed cursor {cursor!r}")
        seq = int(seq_text)
        if not hmac.compare_digest(tag.encode(), self._tag(space, seq, epoch)):
            raise SyncError(
                ErrorCode.BAD_CURSOR,
                f"the cursor was not issued by this server for space {space!r}; "
                "pull from the empty cursor",
            )
        if (epoch if epoch is not None else self.legacy_epoch) != self.epoch:
            raise SyncError(
                ErrorCode.RESYNC_REQUIRED,
                f"the cursor belongs to an earlier epoch of the database (it was restored "
                f"from a backup since): drop local data of space {space!r} and pull from "
                "the empty cursor",
            )
        return seq
