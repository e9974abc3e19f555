"""Origins as browsers send them (`scheme://host[:port]`, lower case, default port left
out): the parsing of SYNCSERVER_CORS_ORIGINS, shared by the setting's check at start and
the CORS middleware (cors.py) that applies the list."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def parse_origins(value: str) -> frozenset[str]:
    """`https://a.example, http://localhost:5173` -> the origins as browsers send them
    (lower case, default ports left out). ValueError naming the first bad entry."""
    origins = set()
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        origins.add(canonical_origin(entry))
    return frozenset(origins)


def canonical_origin(entry: str) -> str:
    why = f"{entry!r} is not an origin (scheme://host[:port], e.g. https://app.example.com)"
    if entry == "*":
        raise ValueError("`*` is refused: list the exact origins of your apps")
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        raise ValueError(why) from None
    scheme, host = parts.scheme.lower(), (parts.netloc.rsplit(":", 1)[0] if port else
                                         parts.netloc).lower()
    if scheme not in ("http", "https") or not host or _HOST.fullmatch(host) is None:
        raise ValueError(why)
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{entry!r} has more than an origin: no path (not even /), "
                         "query or user name")
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
