"""Authentication: bearer JWTs (`--auth jwt`, the default: a key, or `--dev`, is required)
or off (`--auth none`, an explicit choice).

`Authenticator.access(token)` turns a token into an Access (permissions.py) or raises a 401
SyncError. Verified tokens are cached by their text until they expire, so a client's
requests after the first cost a dict lookup, not a signature check.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from ..config.settings import Settings
from ..config.startup import StartupError
from .permissions import Access, access_of
from .tokens import KeySet, TokenError, Verifier, unauthorized

log = logging.getLogger("syncserver")

# The meta entry of dev mode's HS256 secret (devmode.py), next to the cursor secret
DEV_SECRET_NAME = "dev_jwt_secret"

CACHE_SIZE = 10_000
SUBPROTOCOL = "syncserver.v2"  # the WebSocket subprotocol the server selects
BEARER_PREFIX = "bearer."  # a token offered as a subprotocol: "bearer.<jwt>"


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        settings.check_auth()  # no key and no --dev: refused, whoever builds the app
        self.enabled = settings.auth == "jwt"
        self.dev = settings.dev and not settings.jwt_secret  # the secret comes from storage
        self.jwks = KeySet(settings.jwks, settings.jwks_refresh) if settings.jwks else None
        self.verifier = Verifier(settings.jwt_secret, self.jwks, settings.jwt_issuer,
                                 settings.jwt_audience, settings.jwt_leeway)
        self._cache: dict[str, Access] = {}

    def use_dev_secret(self, secret: bytes) -> None:
        """Dev mode: verify (and mint) HS256 tokens with the secret kept in the database."""
        self.verifier.secret = secret.hex()

    def start(self) -> None:
        """Load the JWKS once at start: a missing file or bad document fails the start; an
        unreachable URL is retried when the first token arrives."""
        if not self.enabled or self.jwks is None:
            return
        try:
            self.jwks.load_now()
        except (OSError, ValueError) as exc:
            if not self.jwks.source.startswith(("http://", "https://")):
                raise StartupError(f"cannot read the JWKS file {self.jwks.source}: {exc}"
                                   ) from None
            log.warning("cannot fetch the JWKS yet (%s); retrying on the first token", exc)

    async def access(self, token: str | None) -> Access:
        """The access a token grants; 401 if there is none or it is not valid now."""
        if not token:
            raise unauthorized("this server needs a bearer token (Authorization: Bearer "
                               "<jwt>)", invalid_token=False)
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > now - self.verifier.leeway:
                return cached
            del self._cache[token]
        try:
            claims = await self.verifier.claims(token)
        except TokenError as exc:
            log.info("refused a bearer token: %s", exc)
            raise unauthorized("the bearer token is not valid (expired, not yet valid, "
                               "wrongly signed, or missing a required claim)") from None
        access = access_of(claims)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # bounded; the next request of each client re-verifies
        self._cache[token] = access
        return access


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Offered(NamedTuple):
    """What a WebSocket handshake's subprotocols carry."""

    selected: str | None  # the subprotocol to select (never the token: it would be echoed)
    token: str | None  # the token offered as `bearer.<jwt>`


def subprotocol_token(offered: list[str]) -> Offered:
    """The subprotocol to select, and the token offered as `bearer.<jwt>`."""
    token = next((p[len(BEARER_PREFIX):] for p in offered if p.startswith(BEARER_PREFIX)),
                 None)
    return Offered(SUBPROTOCOL if SUBPROTOCOL in offered else None, token)
