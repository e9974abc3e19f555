"""Reading request JSON without silently changing a client's numbers.

orjson reads integers from -2**63 to 2**64-1 exactly, and any integer beyond them as a
float: `2**70` would come back as `1.1805916207174113e+21`, another type and, past 2**53,
another number than the client sent. The server does not store such integers (JSON
libraries disagree about them, and JavaScript cannot hold them): a mutation holding one is
rejected (mutations.parse_mutation), and the client is told to send it as a string.

To find them, the request text must be read again: the parsed value cannot tell
`1180591620717411303424` from `1.1805916207174113e21`. That is cheap to rule out: an
integer out of range has at least 19 digits in a row, and a request without such a run
(almost all of them: HLC stamps have 13) costs one C-speed translate and find (about 0.25
us per mutation of a push, under 1% of its time). Only a request with a long digit run is
tokenized; each integer out of range becomes a BigInteger, a value that nothing accepts
where it expects an integer and that orjson refuses to encode, so it can never be stored.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

EXACT = (-(2**63), 2**64 - 1)  # the integers orjson keeps exactly


class BigInteger:
    """An integer of the request beyond EXACT (its digits kept, for a stable repr)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"BigInteger({self.digits})"


_MARK = "\x00syncserver:big integer:"  # stands for a BigInteger between the two parses
_ONLY_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # digit -> "0"
_LONG_RUN = b"0" * 19
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')


def loads(raw: bytes | str) -> Any:
    """orjson.loads, with integers beyond EXACT read as BigInteger instead of floats.
    Raises orjson.JSONDecodeError for what is not JSON."""
    value = orjson.loads(raw)
    text = raw.encode() if isinstance(raw, str) else raw
    if text.translate(_ONLY_DIGITS).find(_LONG_RUN) < 0:
        return value  # no integer out of range: the common case
    marked = _mark_big_integers(text)
    return value if marked is text else _unmark(orjson.loads(marked))


def holds_big_integer(value: Any) -> bool:
    """Whether a parsed value holds a BigInteger, at any depth (without recursion: the
    value may nest as deep as the parser allows)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is BigInteger:
            return True
    return False


def _mark_big_integers(text: bytes) -> bytes:
    """`text` (valid JSON) with each integer outside EXACT replaced by a marked string
    (`text` itself when there is none). Strings are matched whole: their digits stay."""
    parts: list[bytes] = []
    last = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == 0x22 or b"." in token or b"e" in token or b"E" in token:
            continue  # a string or a float
        if len(token.lstrip(b"-")) <= 20 and EXACT[0] <= int(token) <= EXACT[1]:
            continue  # (int() of thousands of digits would be refused: length first)
        parts += (text[last:match.start()], orjson.dumps(_MARK + token.decode()))
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return b"".join(parts)


def _unmark(value: Any) -> Any:
    """`value` with each marked string turned into its BigInteger (in place, iteratively)."""
    stack = [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if type(item) is dict else enumerate(item) \
            if type(item) is list else ()
        for key, child in pairs:
            if type(child) is str and child.startswith(_MARK):
                item[key] = BigInteger(child[len(_MARK):])
            elif type(child) is dict or type(child) is list:
                stack.append(child)
    if type(value) is str and value.startswith(_MARK):
        return BigInteger(value[len(_MARK):])
    return value
