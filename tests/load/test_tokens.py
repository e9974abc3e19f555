"""--token and --token-secret: every request carries a bearer token (auth lands later; the
tool must already speak it)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson

from load.auth import mint_token
from tests.load.toy_server import RunningToy, ToyServer

SECRET = "s3cret-of-at-least-32-characters-for-hs256"
ARGS = ["--duration", "0.5", "--clients", "3", "--ws-ratio", "0", "--batch-size", "10"]


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_given_token_is_sent_as_bearer_on_every_push(run_load):
    toy = ToyServer()
    with RunningToy(toy) as running:
        status, _ = run_load("steady", running.url, *ARGS, "--token", "t0ken")
    assert status == 0 and toy.authorization == {"Bearer t0ken"}


def test_minted_tokens_name_each_client_and_verify_with_the_secret(run_load):
    toy = ToyServer()
    with RunningToy(toy) as running:
        status, report = run_load("steady", running.url, *ARGS, "--token-secret", SECRET)
    assert status == 0 and report["settings"]["token_secret"] == "***"
    tokens = {h.removeprefix("Bearer ") for h in toy.authorization}
    assert len(tokens) == 3  # one per client
    for token in tokens:
        head, body, signature = token.split(".")
        expected = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
        claims = _claims(token)
        # the server's form (docs/security.md): a dict of space -> right
        assert claims["sub"].startswith("load-")
        assert claims["spaces"] and set(claims["spaces"].values()) == {"rw"}
        assert claims["exp"] > claims["iat"]


def test_mint_token_is_a_three_part_hs256_jwt():
    token = mint_token(SECRET, "c-1", {"s1": "rw"})
    assert orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==")) == {
        "alg": "HS256",
        "typ": "JWT",
    }
    assert _claims(token)["sub"] == "c-1"
