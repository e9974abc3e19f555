"""Keys and tokens for the attack matrix, made in the test with `cryptography` and PyJWT.
Hostile tokens (alg none, HS256 signed with an RSA public key) are built by hand: PyJWT
rightly refuses to make them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECRET = "test-secret-" + "x" * 40  # the HS256 secret of the secured server
ISSUER = "https://issuer.test"
AUDIENCE = "syncserver-tests"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) \
        else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig")
    return jwk


def public_pem(key: Any) -> bytes:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem


def claims(sub: str, spaces: dict[str, str] | None = None, ttl: float = 600,
           **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {"sub": sub, "spaces": spaces or {}, "iat": now,
                           "exp": now + int(ttl), "iss": ISSUER, "aud": AUDIENCE}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def hs(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def signed(payload: dict[str, Any], key: Any, kid: str, algorithm: str) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


def alg_none(payload: dict[str, Any]) -> str:
    return _segments({"alg": "none", "typ": "JWT"}, payload) + "."


def hs_with_key_bytes(payload: dict[str, Any], key: bytes, kid: str | None = None) -> str:
    """HS256 keyed with arbitrary bytes (e.g. an RSA public key's PEM): the classic
    algorithm-confusion token."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    head = _segments(header, payload)
    return head + "." + _b64(hmac.new(key, head.encode(), hashlib.sha256).digest())


def hs_text(payload: str, secret: str = SECRET, header: str = "") -> str:
    """HS256 over a payload (and header) given as JSON text: claims no encoder writes
    (`1e400`, `Infinity`, an integer of thousands of digits), validly signed."""
    header = header or json.dumps({"alg": "HS256", "typ": "JWT"})
    head = _b64(header.encode()) + "." + _b64(payload.encode())
    return head + "." + _b64(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())
