"""Which push endpoints the server calls: never an address a client chose unless it is a
public host (docs/security.md, guarantee 13).

A subscription's endpoint is checked when it is registered (`check_endpoint`: https, a
host name or a global IP address, no user info) and again before every send; and the
connections are made through `PublicResolver`, which drops every address that is not
global at the moment of the connection, so a public name that resolves (or is later
re-pointed) to 127.0.0.1, 10.x or 169.254.169.254 is never reached. Redirects are not
followed (sender.py). With --webpush-allow-loopback (tests, development) the loopback
addresses of this machine are accepted too, over http as well.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from ..model.errors import ErrorCode, SyncError

MAX_ENDPOINT = 2048  # characters; browsers' endpoints are a few hundred
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa",
                  ".corp", ".private")
LOOPBACK_NAMES = ("localhost",)


def _refuse(reason: str) -> SyncError:
    return SyncError(ErrorCode.INVALID_REQUEST, f"subscription.endpoint: {reason}",
                     field="subscription.endpoint")


def allowed_address(address: str, allow_loopback: bool) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # an IPv6 address with a zone (fe80::1%eth0), or not an address
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global or (allow_loopback and ip.is_loopback)


def check_endpoint(url: object, allow_loopback: bool) -> str:
    """The endpoint, or 400 invalid_request naming what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise _refuse("must be a URL string")
    if len(url) > MAX_ENDPOINT:
        raise _refuse(f"longer than {MAX_ENDPOINT} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise _refuse("spaces or control characters in the URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("not a URL") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("no host")
    if parts.username is not None or parts.password is not None:
        raise _refuse("user info (user:password@) is not allowed")
    if port == 0:
        raise _refuse("port 0")
    try:
        ip: Any = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    local = host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback and local):
        raise _refuse("must be an https URL (a push service's)")
    if local:
        if not allow_loopback:
            raise _refuse(f"{host} is this machine: not a push service")
        return url
    if ip is not None:
        if not allowed_address(host, False):
            raise _refuse(f"{host} is not a public address (private, loopback, link-local "
                          "or reserved)")
        return url
    if "." not in host or host.endswith(LOCAL_SUFFIXES):
        raise _refuse(f"{host} is not a public host name")
    last = host.rsplit(".", 1)[1]
    if last.isdigit() or last.startswith("0x"):  # 127.1, 0x7f.1: addresses in disguise
        raise _refuse(f"{host} is not a public host name")
    return url


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, less every address that is not public (unless loopback is
    allowed): a connection to a name that resolves to none fails like an unknown name."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if allowed_address(r["host"], self.allow_loopback)]
        if not kept:
            raise OSError(f"{host} resolves to no public address: not contacted")
        return kept

    async def close(self) -> None:
        await self._inner.close()
