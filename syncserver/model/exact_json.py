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

Numbers a double cannot hold are refused as not JSON the server accepts, both ways: orjson
refuses one too large (`1e400` would be infinity), and `loads` refuses one too small, a
literal with a non-zero digit that parses to zero (`1e-400`, `2e-324`): it would be stored
as 0.0, another number than the client sent, where `0e-400` is zero as written. A literal
that parses to the nearest double, subnormal or not (`3e-324` is read as `5e-324`, `0.1`
as the double nearest 0.1), is kept as that double, as every JSON reader does. Only a text
whose exponent has three digits or more after a minus (`e-400`), or a run of 19 digits
(more than 300 leading zeros need one), can hold such a literal: the same translate that
finds long digit runs finds these, and only such a text is tokenized.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

EXACT = range(-(2**63), 2**64)  # the integers orjson keeps exactly


class BigInteger:
    """An integer of the request beyond EXACT (its digits kept, for a stable repr)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"BigInteger({self.digits})"


_MARK = "\x00syncserver:big integer:"  # stands for a BigInteger between the two parses
# digit -> "0", "e" and "E" -> "e", "-" stays, anything else -> " "
_SHAPE = bytes(48 if 48 <= b <= 57 else 101 if b in (69, 101) else 45 if b == 45 else 32
               for b in range(256))
_LONG_RUN = b"0" * 19
_TINY_EXPONENT = b"e-000"  # an exponent of -100 or below
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')


def loads(raw: bytes | str) -> Any:
    """orjson.loads, with integers beyond EXACT read as BigInteger instead of floats.
    Raises orjson.JSONDecodeError for what is not JSON, and for a number too small for a
    double (the module's docstring)."""
    value = orjson.loads(raw)
    text = raw.encode() if isinstance(raw, str) else raw
    shape = text.translate(_SHAPE)
    long_run = shape.find(_LONG_RUN) >= 0
    if not long_run and shape.find(_TINY_EXPONENT) < 0:
        return value  # no integer out of range, no number too small: the common case
    _refuse_underflow(text)
    if not long_run:
        return value
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


def _refuse_underflow(text: bytes) -> None:
    """Raise orjson.JSONDecodeError at the first number of `text` (valid JSON) written with
    a non-zero digit that a double reads as zero."""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == 0x22 or (b"e" not in token and b"E" not in token and b"." not in token):
            continue  # a string or an integer (integers never underflow)
        mantissa = token.lower().partition(b"e")[0]
        if float(token) == 0.0 and mantissa.strip(b"-0.") != b"":
            shown = token.decode() if len(token) <= 40 else token[:37].decode() + "..."
            doc = text.decode()
            raise orjson.JSONDecodeError(
                f"number {shown} is zero when parsed as double, and not written as zero",
                doc, len(text[:match.start()].decode()))


def _mark_big_integers(text: bytes) -> bytes:
    """`text` (valid JSON) with each integer outside EXACT replaced by a marked string
    (`text` itself when there is none). Strings are matched whole: their digits stay."""
    parts: list[bytes] = []
    last = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == 0x22 or b"." in token or b"e" in token or b"E" in token:
            continue  # a string or a float
        if len(token.lstrip(b"-")) <= 20 and int(token) in EXACT:
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


MAX_ENCODED_DEPTH = 254  # the nesting orjson encodes


def unfaithful(value: Any, levels: int = MAX_ENCODED_DEPTH) -> str | None:
    """What in a value made by app code on the server (a custom resolver's result, an
    upgrade's) is not a JSON value that encodes to itself (None: all is): a set, an object,
    an integer beyond 64 bits, a float that is not finite. A walk: for app code's output
    only, never for what a push carries (orjson and `loads` check that)."""
    if levels <= 0:
        return f"it nests deeper than {MAX_ENCODED_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in dict.items(value):
            if type(key) is not str:
                return f"a key {key!r} that is not a string"
            problem = unfaithful(item, levels - 1)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = unfaithful(item, levels - 1)
            if problem is not None:
                return problem
    elif type(value) is int:
        if value not in EXACT:  # what orjson encodes
            return f"the integer {value} is beyond 64 bits"
    elif type(value) is float:
        if not math.isfinite(value):
            return f"the number {value} (JSON has no infinity or NaN)"
    elif value is not None and type(value) not in (str, bool):
        return f"a {type(value).__name__}"
    return None
