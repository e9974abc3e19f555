"""Tokens for the simulated clients.

``--token`` sends one given token as ``Authorization: Bearer`` (and in the WebSocket
``hello``). ``--token-secret`` mints one HS256 JWT per simulated client, in the form the
server's ``--auth jwt`` reads (docs/security.md): ``sub`` is the client id, so each client
id is bound to its own user, and the ``spaces`` claim is a dict granting exactly the spaces
the client's scenario uses (``{"load-ab12-s0": "rw"}``). The checker reads every space of
the run with a read-only token of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import jwt

READ, WRITE = "r", "rw"


def grants(spaces: Iterable[str], right: str = WRITE) -> dict[str, str]:
    return {space: right for space in spaces}


def mint_token(secret: str, sub: str, spaces: dict[str, str], ttl: int = 3600) -> str:
    """An HS256 JWT with ``sub``, ``iat``, ``exp`` and the ``spaces`` grants."""
    now = int(time.time())
    claims = {"sub": sub, "spaces": spaces, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")
