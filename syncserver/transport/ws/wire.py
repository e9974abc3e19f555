"""A live `changes` frame encoded once per batch and shared by every subscriber.

The fan-out's cost is per subscriber: at 10,000 subscribers of one space a batch is sent
10,000 times. So each batch's frame (per collection filter) is rendered and framed as a
WebSocket text frame once, and the same bytes object is written to every socket that can
take it (`Outbox.offer_live`, written by coalesce.py, several batches' frames in one write
when they come faster than the writes); only a connection that cannot falls back to the
ASGI send of the text.
"""

from __future__ import annotations

from collections.abc import Callable

from ...config.metrics import Metrics
from ...core.notifier import Published
from ...storage.reading import Readable

TEXT_FIN = 0x81  # FIN + opcode 1 (text): a whole message in one frame


def text_frame(payload: bytes) -> bytes:
    """A server's WebSocket text frame (RFC 6455 5.2: unmasked, no extension)."""
    n = len(payload)
    if n < 126:
        head = bytes((TEXT_FIN, n))
    elif n < 65_536:
        head = bytes((TEXT_FIN, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((TEXT_FIN, 127)) + n.to_bytes(8, "big")
    return head + payload


class SharedFrame:
    """One batch's live frame for one collection filter: its text (for the ASGI send),
    its bytes on the wire, and the records in it (for the metrics)."""

    __slots__ = ("text", "wire", "records")

    def __init__(self, text: str, records: int, metrics: Metrics) -> None:
        self.text = text
        self.wire = text_frame(text.encode())
        self.records = records
        metrics.ws_live_frames_encoded.inc()


def shared_frame(published: Published, collections: frozenset[str] | None,
                 encode_cursor: Callable[[str, int], str],
                 metrics: Metrics, readable: Readable | None = None) -> SharedFrame | None:
    """The batch's frame for subscribers with this collection filter and what their roles
    leave them (`readable`, None: everything; a reader of its own records only has its
    own frame), None: nothing of the batch matches; made by the first of them and kept on
    the batch for the others."""
    if readable is not None and readable.hidden.isdisjoint(published.touched) and \
            readable.owned.isdisjoint(published.touched):
        readable = None  # nothing of the batch is held back from it: the common frame
    key = ("ws", collections) if readable is None else ("ws", collections, readable)
    try:
        return published.shared[key]  # type: ignore[return-value]
    except KeyError:
        pass
    text = published.message(collections, encode_cursor, readable)
    frame = None if text is None else SharedFrame(
        text, len(published.matching(collections, readable)), metrics)
    published.shared[key] = frame
    return frame
