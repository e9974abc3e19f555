"""Bearer tokens: verifying JWTs (PyJWT: no hand-written crypto) and minting dev tokens.

Which algorithm a token may use is fixed by the key that verifies it, never by the token's
own header: the configured secret verifies HS256 only; a JWKS key verifies RS256 (RSA) or
ES256 (EC P-256) only. So `alg: none`, and an HS256 token signed with an RSA key's public
PEM (algorithm confusion), find no key that accepts them.

Before PyJWT reads a token, claims.read_unverified refuses one whose header or claims hold
what no token may (claims.py): any value a signed token carries is then a 401, never a 500.

A token names its JWKS key with `kid`; an unknown `kid` reloads the JWKS (file or URL), at
most once per `jwks_refresh` seconds, so a key rotated in at the issuer is picked up without
a restart and a flood of made-up `kid`s costs at most one fetch per interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from ..model.errors import ErrorCode, SyncError
from .claims import Unreadable, read_unverified

log = logging.getLogger("syncserver")

# JWK key type (and curve) -> the one algorithm it verifies
ALGORITHM_OF = {("RSA", None): "RS256", ("EC", "P-256"): "ES256"}
FETCH_TIMEOUT = 5.0


class TokenError(Exception):
    """Why a token was refused, for the log; the client gets a fixed message."""


def unauthorized(detail: str, invalid_token: bool = True) -> SyncError:
    """401 with the Bearer challenge. The detail never quotes the token."""
    error = SyncError(ErrorCode.UNAUTHORIZED, detail)
    error.headers["WWW-Authenticate"] = \
        'Bearer error="invalid_token"' if invalid_token else 'Bearer realm="syncserver"'
    return error


@dataclass(frozen=True)
class VerifiedKey:
    key: Any
    algorithm: str


class KeySet:
    """The JWKS keys by kid, from a file or an http(s) URL, reloaded on demand."""

    def __init__(self, source: str, refresh_seconds: float) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.keys: dict[str, VerifiedKey] = {}
        self.loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    def _read(self) -> bytes:
        if self.source.startswith(("http://", "https://")):
            with urllib.request.urlopen(self.source, timeout=FETCH_TIMEOUT) as answer:
                body: bytes = answer.read(1 << 20)
                return body
        with open(self.source, "rb") as f:
            return f.read(1 << 20)

    def load_now(self) -> None:
        """Read the key set (blocking). Keys of other types, or whose `alg` disagrees with
        their type, are left out: they could only widen what a token may choose."""
        self.loaded_at = time.monotonic()
        document = json.loads(self._read())
        keys: dict[str, VerifiedKey] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            kty = str(jwk.get("kty"))
            algorithm = ALGORITHM_OF.get((kty, str(jwk.get("crv")) if kty == "EC" else None))
            if algorithm is None or jwk.get("alg", algorithm) != algorithm:
                continue
            try:
                key = jwt.PyJWK(jwk, algorithm).key
            except jwt.PyJWTError:
                continue
            keys[str(jwk.get("kid", ""))] = VerifiedKey(key, algorithm)
        self.keys = keys

    async def find(self, kid: str | None) -> VerifiedKey | None:
        if kid is None:  # no kid: only a set of exactly one key is unambiguous
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        found = self.keys.get(kid)
        if found is not None:
            return found
        async with self._lock:
            if kid not in self.keys and \
                    time.monotonic() - self.loaded_at >= self.refresh_seconds:
                try:
                    await asyncio.to_thread(self.load_now)
                except (OSError, ValueError) as exc:
                    log.warning("reloading the JWKS failed: %s", exc)
        return self.keys.get(kid)


class Verifier:
    """Checks a token's signature and claims; returns its claims."""

    def __init__(self, secret: str, jwks: KeySet | None, issuer: str, audience: str,
                 leeway: float) -> None:
        self.secret = secret
        self.jwks = jwks
        self.issuer = issuer or None
        self.audience = audience or None
        self.leeway = leeway

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            header = read_unverified(token).header
        except Unreadable as exc:
            raise TokenError(str(exc)) from None
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("bad kid")
        key: Any
        if self.jwks is not None and (kid is not None or not self.secret):
            found = await self.jwks.find(kid)
            if found is None:
                raise TokenError("no JWKS key for this token")
            key, algorithm = found.key, found.algorithm
        elif self.secret:
            key, algorithm = self.secret, "HS256"
        else:
            raise TokenError("no key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], issuer=self.issuer,
                audience=self.audience, leeway=self.leeway,
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None})
        except jwt.PyJWTError as exc:
            raise TokenError(type(exc).__name__) from None
        return claims


def mint(secret: str, sub: str, spaces: dict[str, str], ttl_seconds: float,
         issuer: str = "", audience: str = "",
         roles: dict[str, list[str]] | None = None) -> str:
    """A development token (HS256, from the configured secret); `roles`: its `roles`
    claim (permissions.py), none when empty."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "spaces": spaces, "iat": now,
                              "exp": now + max(1, int(ttl_seconds))}
    if roles:
        claims["roles"] = roles
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
