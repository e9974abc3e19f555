"""A validly signed token whose claims hold anything at all is refused 401 or accepted,
never a 500: over HTTP and in a WebSocket hello.

Issue 18: `exp` = 10**400 answered 500 (the expiry did not fit a float). The header and
claims must be strict JSON nested at most 32 deep, and the registered claims must have the
types RFC 7519 gives them (NumericDates are JSON numbers within 0..2**53; `sub`, `iss`,
`jti` strings; `aud` a string or a list of strings), or the token is refused like any
other invalid one (syncserver/guard/claims.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from . import keys
from .conftest import Secured, bearer
from .support import problem

BIG = "1" + "0" * 400  # 10**400, as JSON text
HUGE = "9" * 5000  # more digits than Python's int() takes from text
DEEP = "[" * 5000 + "]" * 5000
# Claim values that are never valid, as JSON text, by claim.
ABSURD: list[tuple[str, str]] = [
    ("exp", BIG), ("exp", "-" + BIG), ("exp", HUGE), ("exp", "1e400"), ("exp", "Infinity"),
    ("exp", "-Infinity"), ("exp", "NaN"), ("exp", "1e300"), ("exp", '"9999999999"'),
    ("exp", "[9999999999]"), ("exp", '{"at": 9999999999}'), ("exp", "true"), ("exp", "null"),
    ("exp", "9007199254740993"),
    ("nbf", BIG), ("nbf", "-" + BIG), ("nbf", "-1"), ("nbf", '"0"'), ("nbf", "{}"),
    ("nbf", "[]"), ("nbf", "NaN"), ("iat", BIG), ("iat", "-" + BIG), ("iat", '"now"'),
    ("iat", "-Infinity"), ("iat", "false"), ("sub", '["u"]'), ("sub", '{"id": "u"}'),
    ("sub", "1"), ("sub", '""'), ("sub", "null"), ("iss", '["https://issuer.test"]'),
    ("iss", "{}"), ("aud", '{"aud": "syncserver-tests"}'), ("aud", '["syncserver-tests", 1]'),
    ("jti", "[]"), ("jti", BIG), ("spaces", DEEP), ("extra", "[" * 40 + "]" * 40),
]


def payload(space: str, claim: str, text: str) -> tuple[str, str]:
    """(the token's payload: valid claims with `claim` set to the JSON `text`, the sub it
    carries: the changed one when `claim` is sub and its value is a string)."""
    sub = "u" + uuid.uuid4().hex[:10]  # a user of its own: no rate limit shared
    now = int(time.time())
    claims = {"sub": json.dumps(sub), "exp": str(now + 600), "iat": str(now),
              "iss": json.dumps(keys.ISSUER), "aud": json.dumps(keys.AUDIENCE),
              "spaces": json.dumps({space: "rw"})}
    claims[claim] = text
    if claim == "sub" and isinstance(changed := json.loads(text), str):
        sub = changed
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in claims.items()) + "}", sub


def pull(secured: Secured, token: str, space: str) -> httpx.Response:
    return httpx.get(f"{secured.url}/v1/changes", params={"space": space},
                     headers=bearer(token), timeout=30)


def refused(response: httpx.Response, token: str) -> None:
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in response.text


async def hello(secured: Secured, token: str) -> tuple[list[dict], int | None]:
    """The frames answering a hello with `token` (up to the welcome, or to the close) and
    the close code (None: still open after the welcome)."""
    frames: list[dict] = []
    async with connect(secured.server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "hello", "token": token}).decode())
        try:
            while True:
                frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
                if frames[-1].get("type") == "welcome":
                    return frames, None
        except ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None


@pytest.mark.parametrize(("claim", "text"), ABSURD,
                         ids=[f"{claim}={text[:24]}" for claim, text in ABSURD])
def test_a_signed_token_with_an_absurd_claim_is_refused_401(secured, space, claim, text):
    body, _sub = payload(space, claim, text)
    token = keys.hs_text(body)
    refused(pull(secured, token, space), token)
    frames, code = asyncio.run(hello(secured, token))
    assert ([f.get("code") for f in frames], code) == (["unauthorized"], 4401), frames


@pytest.mark.parametrize("extra", ['"x": ' + DEEP, '"x": ' + "[" * 40 + "]" * 40,
                                   '"x": NaN', '"x": 1e400', '"kid": ["k"]'])
def test_a_signed_token_with_an_absurd_header_is_refused_401(secured, space, extra):
    body, _sub = payload(space, "jti", '"j"')
    token = keys.hs_text(body, header='{"alg": "HS256", "typ": "JWT", %s}' % extra)
    refused(pull(secured, token, space), token)
    frames, code = asyncio.run(hello(secured, token))
    assert ([f.get("code") for f in frames], code) == (["unauthorized"], 4401), frames


def test_the_valid_payload_of_these_tests_is_accepted(secured, space):
    # The refusals above are for the claim changed, not for the rest of the payload.
    now = int(time.time())
    for claim, text in [("exp", str(now + 60)), ("exp", f"{now + 60}.5"), ("nbf", "0"),
                        ("aud", json.dumps([keys.AUDIENCE, "other"])), ("jti", '"j-1"')]:
        body, sub = payload(space, claim, text)
        token = keys.hs_text(body)
        assert pull(secured, token, space).status_code == 200, (claim, text)
        frames, code = asyncio.run(hello(secured, token))
        assert code is None and frames[-1]["sub"] == sub, frames


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)
CLAIMS = ["exp", "nbf", "iat", "sub", "iss", "aud", "jti", "spaces", "extra"]
claim_changes = st.tuples(st.sampled_from(CLAIMS), json_values.map(json.dumps))


def answer_is_401_or_accepted(secured: Secured, space: str, claim: str, text: str) -> None:
    body, sub = payload(space, claim, text)
    token = keys.hs_text(body)
    response = pull(secured, token, space)
    assert response.status_code in (200, 401, 403), (response.status_code, response.text)
    if response.status_code == 401:
        refused(response, token)
    frames, code = asyncio.run(hello(secured, token))
    if response.status_code == 401:
        assert ([f.get("code") for f in frames], code) == (["unauthorized"], 4401), frames
    else:  # what HTTP accepted, the hello accepts: the same verification
        assert code is None and frames[-1]["sub"] == sub, frames


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_changes)
@example(("exp", BIG))
@example(("nbf", "-" + BIG))
@example(("sub", '"0"'))  # a sub that is accepted: the welcome names it
def test_any_claim_value_gets_401_or_access_never_a_500(secured, change):
    answer_is_401_or_accepted(secured, "sp-" + uuid.uuid4().hex[:12], *change)
