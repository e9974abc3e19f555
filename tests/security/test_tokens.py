"""The token attack matrix over HTTP: every refused token is a 401 problem+json with the
Bearer challenge, the detail never quotes the token, and nothing is stored."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.helpers import mutation, stamped_by

from . import keys
from .conftest import Secured, bearer
from .support import problem, stored_state


def _attempt(secured: Secured, token: str | None, space: str) -> None:
    """A push and a read with `token`: both refused 401, the store unchanged."""
    before = stored_state(secured.server.db)
    headers = bearer(token) if token is not None else {}
    batch = {"client_id": "c-attacker", "protocol": 2,
             "mutations": stamped_by("c-attacker", [mutation(1, "r1", space=space)])}
    pushed = httpx.post(f"{secured.url}/v1/push", json=batch, headers=headers, timeout=30)
    read = httpx.get(f"{secured.url}/v1/changes", params={"space": space}, headers=headers,
                     timeout=30)
    listed = httpx.get(f"{secured.url}/v1/conflicts", headers=headers, timeout=30)
    for response in (pushed, read, listed):
        body = problem(response, 401, "unauthorized")
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer")
        if token:
            assert challenge == 'Bearer error="invalid_token"'
            assert token not in response.text
            for part in token.split("."):
                assert not part or part not in body["detail"]
    assert stored_state(secured.server.db) == before


def test_no_token_is_refused(secured, space):
    _attempt(secured, None, space)


def test_a_malformed_authorization_header_is_refused(secured, space):
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt"):
        before = stored_state(secured.server.db)
        r = httpx.get(f"{secured.url}/v1/changes", params={"space": space},
                      headers={"Authorization": header}, timeout=30)
        problem(r, 401, "unauthorized")
        assert stored_state(secured.server.db) == before


def test_an_expired_token_is_refused(secured, user, space):
    _attempt(secured, keys.hs(keys.claims(user, {space: "rw"}, ttl=-5)), space)


def test_a_token_not_yet_valid_is_refused(secured, user, space):
    later = int(time.time()) + 300
    _attempt(secured, keys.hs(keys.claims(user, {space: "rw"}, nbf=later)), space)


def test_a_wrongly_signed_token_is_refused(secured, user, space):
    forged = keys.hs(keys.claims(user, {space: "rw"}), secret="another-secret-" + "y" * 40)
    _attempt(secured, forged, space)
    good = keys.hs(keys.claims(user, {space: "rw"}))
    head, _payload, signature = good.split(".")
    tampered = keys.claims("admin", {space: "rw"})  # the payload swapped under a signature
    _attempt(secured, head + "." + keys.hs(tampered).split(".")[1] + "." + signature, space)


def test_alg_none_is_refused(secured, user, space):
    _attempt(secured, keys.alg_none(keys.claims(user, {space: "rw"})), space)


def test_an_hs_token_signed_with_the_rsa_public_key_is_refused(secured, user, space):
    """Algorithm confusion: HS256 keyed with the PEM of a JWKS key, with and without its
    kid; the RSA key verifies RS256 only, the secret does not match."""
    payload = keys.claims(user, {space: "rw"})
    pem = keys.public_pem(secured.rsa)
    _attempt(secured, keys.hs_with_key_bytes(payload, pem, kid="rsa-1"), space)
    _attempt(secured, keys.hs_with_key_bytes(payload, pem), space)


def test_an_rs_token_with_a_kid_the_jwks_lacks_is_refused(secured, user, space):
    payload = keys.claims(user, {space: "rw"})
    _attempt(secured, keys.signed(payload, keys.rsa_key(), "rsa-unknown", "RS256"), space)
    _attempt(secured, keys.signed(payload, keys.rsa_key(), "rsa-1", "RS256"), space)


@pytest.mark.parametrize("change", [{"aud": "someone-else"}, {"iss": "https://evil.test"},
                                    {"aud": None}, {"iss": None}])
def test_a_wrong_or_missing_audience_or_issuer_is_refused(secured, user, space, change):
    payload: dict[str, Any] = keys.claims(user, {space: "rw"})
    for name, value in change.items():
        if value is None:
            del payload[name]
        else:
            payload[name] = value
    _attempt(secured, keys.hs(payload), space)


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_a_token_without_sub_or_exp_is_refused(secured, user, space, missing):
    payload = keys.claims(user, {space: "rw"})
    del payload[missing]
    _attempt(secured, keys.hs(payload), space)


@pytest.mark.parametrize("kind", ["HS256", "RS256", "ES256"])
def test_a_valid_token_of_each_key_type_reads_and_writes_its_space(secured, user, space,
                                                                    kind):
    payload = keys.claims(user, {space: "rw"})
    token = keys.hs(payload) if kind == "HS256" else \
        keys.signed(payload, secured.rsa, "rsa-1", kind) if kind == "RS256" else \
        keys.signed(payload, secured.ec, "ec-1", kind)
    cid = f"c-{user}"
    batch = {"client_id": cid, "protocol": 2,
             "mutations": stamped_by(cid, [mutation(1, "r1", space=space)])}
    pushed = httpx.post(f"{secured.url}/v1/push", json=batch, headers=bearer(token), timeout=30)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "applied"
    page = httpx.get(f"{secured.url}/v1/changes", params={"space": space},
                     headers=bearer(token), timeout=30).json()
    assert [c["id"] for c in page["changes"]] == ["r1"]
