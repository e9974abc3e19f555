"""Request heads are bounded (SYNCSERVER_MAX_HEADER_BYTES, SYNCSERVER_MAX_HEADERS), over
raw sockets to a real server: a header that never ends is answered 431 once the server has
read about the limit, not held while it grows; too many header fields are 431 too; heads
within the limits, and large bodies behind small heads, are served as before."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from tests.helpers import mutation
from tests.server import ServerProcess

MAX_BYTES = 16_384
MAX_HEADERS = 20
ENV = {"SYNCSERVER_MAX_HEADER_BYTES": str(MAX_BYTES),
       "SYNCSERVER_MAX_HEADERS": str(MAX_HEADERS),
       # far above the waits below: an answer is the limit's, not the timeout's
       "SYNCSERVER_HEADER_TIMEOUT": "120"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("heads") / "sync.db", env=ENV).start()
    yield server
    server.stop()


def answers(server: ServerProcess, raw: bytes, count: int = 1, wait: float = 10
            ) -> list[tuple[int, bytes]]:
    """Send `raw` on a new connection and read `count` answers (status, body), or as many
    as came before the server closed."""
    got: list[tuple[int, bytes]] = []
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(raw)
        s.settimeout(wait)
        buffer = b""
        while len(got) < count:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if sep:
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                if len(rest) >= length:
                    got.append((int(head.split(b" ")[1]), rest[:length]))
                    buffer = rest[length:]
                    continue
            chunk = s.recv(65_536)
            if not chunk:
                break
            buffer += chunk
    return got


def assert_431(got: list[tuple[int, bytes]]) -> None:
    assert got, "no answer: the server still waits for the end of the headers"
    status, body = got[0]
    assert status == 431, got
    assert orjson.loads(body)["code"] == "headers_too_large"


def test_a_header_that_never_ends_is_431_once_the_limit_is_read(limited) -> None:
    # The limit and one more read's worth, and nothing after: the server answers from
    # what it holds (before: it waited for the header's end, and kept all of it).
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    start = time.monotonic()
    got = answers(limited, head + b"a" * (MAX_BYTES + 4_096))
    assert_431(got)
    assert time.monotonic() - start < 10


def test_a_long_url_counts_too(limited) -> None:
    assert_431(answers(limited, b"GET /healthz?" + b"q" * (MAX_BYTES + 4_096)))


def test_too_many_header_fields_are_431_and_as_many_as_allowed_are_served(limited) -> None:
    def request(fields: int) -> bytes:
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-F%d: 1\r\n" % i for i in range(fields - 1)) + b"\r\n"

    assert_431(answers(limited, request(MAX_HEADERS + 1)))
    assert answers(limited, request(MAX_HEADERS))[0][0] == 200


def test_a_head_just_under_the_limit_is_served(limited) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    filler = b"a" * (MAX_BYTES - len(head) - 200)
    assert answers(limited, head + filler + b"\r\n\r\n")[0][0] == 200


def test_a_large_body_sent_with_its_small_head_is_not_counted(limited) -> None:
    """One write of a small head and a 1 MB push body, then another request pipelined
    behind it on the same connection: both answered."""
    body = orjson.dumps({"client_id": "big-body", "protocol": 2, "mutations": [
        mutation(i, f"r{i}", space="heads", node="big-body", data={"blob": "x" * 200_000})
        for i in range(1, 6)]})
    push = (b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
    got = answers(limited, push + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    assert [status for status, _ in got] == [200, 200], got
    results = orjson.loads(got[0][1])["results"]
    assert [r["status"] for r in results] == ["applied"] * 5, results
