"""Hostile requests outside the outbox: garbage push bodies, bad cursors, garbage
WebSocket frames. Each has the answer a correct server gives (docs/protocol.md); what
came back is recorded in ``Recorder.probes`` (``ok`` says whether it was that answer) and
any 5xx in ``Recorder.server_errors``, for the checker (load/check_hostile.py)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from load.http import HttpConnection, HttpError
from load.recorder import Sink
from load.ws import ws_url


def _body(client_id: str, mutation: bytes) -> bytes:
    return b'{"client_id":"' + client_id.encode() + b'","mutations":[' + mutation + b"]}"


def http_probes(client_id: str, space: str) -> dict[str, tuple[str, str, bytes | None]]:
    """name -> (method, path, body); every one must get a 4xx problem+json answer."""
    m = b'{"mid":1,"space":"' + space.encode() + b'","collection":"notes","id":"p","op":"put",' \
        b'"base_version":0,"hlc":"1763756400000:00000:' + client_id.encode() + b'","data":'
    return {
        "malformed_json": ("POST", "/v1/push", b'{"client_id":"x","mutations":['),
        "invalid_utf8": ("POST", "/v1/push", _body(client_id, m + b'{"a":"\xff\xfe"}}')),
        "lone_surrogate": ("POST", "/v1/push", _body(client_id, m + b'{"a":"\\ud800"}}')),
        "number_1e400": ("POST", "/v1/push", _body(client_id, m + b'{"a":1e400}}')),
        "nesting_1100": ("POST", "/v1/push",
                         _body(client_id, m + b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}}")),
        "body_not_object": ("POST", "/v1/push", b"[1,2,3]"),
        "mutations_not_list": ("POST", "/v1/push", b'{"client_id":"x","mutations":{}}'),
        "bad_client_id": ("POST", "/v1/push", b'{"client_id":"no spaces!","mutations":[]}'),
        "cursor_non_ascii": ("GET", f"/v1/changes?space={quote(space)}&since={quote('1.é')}",
                             None),
        "cursor_garbage": ("GET", f"/v1/changes?space={quote(space)}&since=zz", None),
        "conflict_id_beyond_64_bits": ("POST", f"/v1/conflicts/{2**70}/resolve",
                                       b'{"accept":"server"}'),
    }


async def run_http_probe(conn: HttpConnection, recorder: Sink, name: str, method: str,
                         path: str, body: bytes | None) -> None:
    try:
        response = await conn.request(method, path, body)
    except HttpError as exc:
        recorder.probes.append({"name": name, "ok": False, "observed": f"{exc.kind}: {exc}"})
        return
    assert response is not None
    code = None
    try:
        code = orjson.loads(response.body).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        pass
    ok = 400 <= response.status < 500 and isinstance(code, str)
    recorder.probes.append({"name": name, "ok": ok, "observed": response.status, "code": code,
                            "expected": "a 4xx problem+json with a code"})
    if response.status >= 500:
        recorder.server_errors.append((f"probe {name}", response.status,
                                       response.body[:300].decode("utf-8", "replace")))


# name -> (frames to send after hello + a valid subscribe, expected close code or None
# when the connection must stay open, expected error code or None)
WS_PROBES: dict[str, tuple[list[Any], int | None, str | None]] = {
    "ws_cursor_non_ascii": ([{"type": "subscribe", "space": "{other}", "cursor": "1.é"}],
                            None, "bad_cursor"),
    "ws_not_json": (["not json{"], 4400, "malformed_json"),
    "ws_not_an_object": (["[1,2]"], 4400, "invalid_request"),
    "ws_unknown_type": ([{"type": "launch"}], 4400, "invalid_request"),
    "ws_binary_frame": ([b"\x00\x01binary"], 1003, None),
}


async def run_ws_probe(url: str, recorder: Sink, name: str, client_id: str,
                       spaces: tuple[str, str], timeout: float = 5.0,
                       token: str | None = None) -> None:
    """Over the ``websockets`` library (an implementation independent of the server's)."""
    frames, close_code, error_code = WS_PROBES[name]
    seen: dict[str, Any] = {"errors": [], "pong": False, "close": None}
    try:
        # max_size=None: a catch-up page of a busy space can exceed the library's 1 MB default
        opened = connect(ws_url(url), open_timeout=timeout, max_size=None)
        async with asyncio.timeout(timeout), opened as ws:
            hello = {"type": "hello", "client_id": client_id}
            if token:  # auth on: the probes test the frames after a valid hello
                hello["token"] = token
            await ws.send(orjson.dumps(hello).decode())
            await ws.send(orjson.dumps({"type": "subscribe", "space": spaces[0]}).decode())
            for frame in frames:
                if isinstance(frame, dict):
                    frame = orjson.dumps({k: v.replace("{other}", spaces[1])
                                          if isinstance(v, str) else v
                                          for k, v in frame.items()}).decode()
                await ws.send(frame)
            if close_code is None:
                await ws.send('{"type":"ping"}')
            try:
                async for raw in ws:
                    message = orjson.loads(raw)
                    if message.get("type") == "error":
                        seen["errors"].append(message.get("code"))
                        if message.get("code") == "internal_error":
                            recorder.server_errors.append((f"ws probe {name}", 500,
                                                           str(message)[:300]))
                    if message.get("type") == "pong":
                        seen["pong"] = True
                        break
            except ConnectionClosed:
                pass
            seen["close"] = ws.close_code
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        seen["failure"] = f"{type(exc).__name__}: {exc}"
    if close_code is None:
        ok = seen["pong"] and error_code in seen["errors"] and seen["close"] is None
    else:
        ok = seen["close"] == close_code and (error_code is None or error_code in seen["errors"])
    recorder.probes.append({"name": name, "ok": ok, "observed": seen,
                            "expected": {"close": close_code, "error": error_code}})
    if seen["close"] == 1011:
        recorder.server_errors.append((f"ws probe {name}", 1011, str(seen)))
