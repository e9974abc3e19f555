"""Tokens for the simulated clients.

Auth lands in a later server release; until then the tool sends ``--token`` (or a token it
mints from ``--token-secret``) as ``Authorization: Bearer`` and in the WebSocket hello, which
today's server ignores. Minted tokens are HS256 JWTs naming the client and its spaces; the
claim names are provisional until the auth issue settles them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint_token(secret: str, client_id: str, spaces: list[str], ttl: int = 3600) -> str:
    now = int(time.time())
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims = _b64(orjson.dumps({"sub": client_id, "spaces": spaces, "iat": now, "exp": now + ttl}))
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"
