"""What ``python -m load`` refuses before anything runs: settings out of their ceilings or
inconsistent with each other, and targets that are not plain loopback HTTP (unless
``--allow-remote``). Each problem is one line; the command exits 2 with it."""

from __future__ import annotations

import argparse
import ipaddress
from urllib.parse import urlsplit

from load.chaos import parse_mix
from load.settings import Settings

# Hard ceilings, so that a typo cannot start an unbounded run.
LIMITS = {
    "clients": 5000,
    "subscribers": 10000,
    "writers": 1000,
    "duration": 3600.0,
    "records": 5_000_000,
    "max_mutations": 50_000_000,
    "batch_size": 10_000,
    "readers": 100,
}
MAX_SPACES_PER_CLIENT = 1000  # SYNCSERVER_MAX_PULL_SPACES: the most one POST /v1/pull names


def validate(settings: Settings, args: argparse.Namespace) -> str | None:
    for name, ceiling in LIMITS.items():
        value = getattr(settings, name)
        if not 0 < value <= ceiling:
            return f"--{name.replace('_', '-')} must be in (0, {ceiling}], got {value}"
    shares = (settings.patch_share, settings.delete_share)
    if not all(0 <= share <= 1 for share in shares) or sum(shares) > 1:
        return (f"--patch-share and --delete-share must be in [0, 1] and sum to at most 1, "
                f"got {settings.patch_share} and {settings.delete_share}")
    try:
        mix = parse_mix(settings.mix)
    except ValueError as exc:
        return str(exc)
    if mix and settings.scenario not in ("contention", "offline-burst"):
        return "--mix and --chaos apply to the contention and offline-burst scenarios"
    if not 0 <= settings.slow_consumers <= 100 or not 0 <= settings.hostile_clients <= 100:
        return "--slow-consumers and --hostile-clients must be in [0, 100]"
    if not 0 <= settings.read_only_clients <= settings.clients:
        return "--read-only-clients must be in [0, --clients]"
    if settings.token_secret is not None and len(settings.token_secret) < 32:
        return "--token-secret must be at least 32 characters (as the server's --jwt-secret)"
    if settings.read_only_clients and not settings.token_secret:
        return "--read-only-clients needs --token-secret (it shapes the minted tokens)"
    problem = spaces_problem(settings)
    if problem:
        return problem
    if settings.urls and args.spawn:
        return "give either --url or --spawn"
    if not settings.urls and not args.spawn:
        return "give --url URL (repeatable) or --spawn"
    for url in settings.urls:
        problem = url_problem(url, args.allow_remote)
        if problem:
            return problem
    return None


def spaces_problem(settings: Settings) -> str | None:
    """--spaces-per-client and --revocations against the scenario and each other."""
    n = settings.spaces_per_client
    if not 1 <= n <= MAX_SPACES_PER_CLIENT:
        return f"--spaces-per-client must be in [1, {MAX_SPACES_PER_CLIENT}], got {n}"
    if n > 1 and settings.scenario == "contention":
        return "--spaces-per-client applies to steady, offline-burst, fanout and initial-sync"
    if n > 1 and settings.scenario != "initial-sync" and settings.spaces < n - 1:
        return (f"--spaces must be at least --spaces-per-client - 1 ({n - 1}): each client "
                "draws that many distinct spaces from the shared pool")
    if n > 1 and settings.scenario == "initial-sync" and settings.spaces < n:
        return f"initial-sync: --spaces must be at least --spaces-per-client ({n})"
    if not settings.revocations:
        return None
    if settings.scenario != "steady":
        return "--revocations applies to the steady scenario"
    if not settings.token_secret or n < 2:
        return "--revocations needs --token-secret and --spaces-per-client of 2 or more"
    if not 0 < settings.revocations <= settings.clients - settings.read_only_clients:
        return "--revocations must be in [0, --clients - --read-only-clients]"
    return None


def url_problem(url: str, allow_remote: bool) -> str | None:
    """Why ``url`` cannot be a target, or None. The tool speaks plain HTTP/1.1 to one host and
    port (an optional path prefix is kept): anything else, or a URL that does not parse, is a
    usage error before anything runs."""
    expected = f"bad --url {url!r}: http://host:port expected"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # e.g. "http://[::1", a port that is not a number or too big
        return f"{expected} ({exc})"
    if parts.scheme != "http" or not parts.hostname:
        return expected
    if port == 0 or parts.query or parts.fragment or parts.username is not None:
        return f"{expected} (no port 0, query, fragment or user name)"
    if not allow_remote and not is_loopback(parts.hostname):
        return f"refusing non-loopback target {parts.hostname!r}; pass --allow-remote to load it"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
