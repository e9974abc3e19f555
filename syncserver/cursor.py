"""Opaque, signed cursors: "<seq>.<tag>", where tag = HMAC(secret, space, seq).

Signing binds a cursor to its space and lets the server tell a forged or mangled cursor
(400 bad_cursor) from a real one, on any instance that shares the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .errors import ErrorCode, SyncError


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, space: str, seq: int) -> str:
        mac = hmac.new(self._secret, f"{space}\x00{seq}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:9]).decode()

    def encode(self, space: str, seq: int) -> str:
        return f"{seq}.{self._tag(space, seq)}"

    def decode(self, space: str, cursor: str | None) -> int:
        """The seq a cursor stands for; the empty cursor is 0 (from the start)."""
        if cursor is None or cursor == "":
            return 0
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise SyncError(ErrorCode.BAD_CURSOR, "a cursor is a string this server issued")
        seq_text, _, tag = cursor.partition(".")
        if not (seq_text.isascii() and seq_text.isdigit()) or len(seq_text) > 18:
            raise SyncError(ErrorCode.BAD_CURSOR, f"malformed cursor {cursor!r}")
        seq = int(seq_text)
        if not hmac.compare_digest(tag, self._tag(space, seq)):
            raise SyncError(
                ErrorCode.BAD_CURSOR,
                f"the cursor was not issued by this server for space {space!r}; "
                "pull from the empty cursor",
            )
        return seq
