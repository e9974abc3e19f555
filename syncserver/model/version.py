"""The package's version and the sync protocol's.

The package version has one source, pyproject.toml's `version`, read from the installed
distribution's metadata. The protocol version moves only when the wire contract does
(docs/protocol.md); clients send it with a push and the server says it in `welcome`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PROTOCOL_VERSION = 2


def _package_version() -> str:
    try:
        return version("syncserver")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


VERSION = _package_version()


def describe() -> str:
    """What `syncserver --version` prints."""
    return f"syncserver {VERSION} (protocol {PROTOCOL_VERSION})"
