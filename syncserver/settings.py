"""One table of settings: each is a CLI flag and a SYNCSERVER_* environment variable."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {value!r}")


def _setting(default: Any, help: str, parse: Callable[[str], Any] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "parse": parse})


@dataclass(frozen=True)
class Settings:
    db: str = _setting("syncserver.db", "SQLite file path, or a sqlite:/// URL")
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "port to listen on", int)
    migrate: bool = _setting(True, "run pending migrations when the server starts", _bool)
    demo: bool = _setting(True, "serve the demo PWA at / and the client library at /sync/", _bool)
    secret: str = _setting(
        "", "key that signs cursors; empty: generated once and kept in the database"
    )
    sqlite_synchronous: str = _setting(
        "FULL", "SQLite synchronous pragma (FULL: a commit survives power loss; NORMAL: faster)"
    )
    max_batch_mutations: int = _setting(1000, "most mutations in one push batch", int)
    max_batch_bytes: int = _setting(4_000_000, "largest push body in bytes", int)
    max_record_bytes: int = _setting(256_000, "largest record data, in bytes of JSON", int)
    max_page: int = _setting(1000, "largest changes page (limit)", int)
    max_wait: float = _setting(60.0, "longest long-poll wait in seconds", float)
    max_clock_drift_ms: int = _setting(
        60_000, "how far ahead of server time a client HLC stamp may be, in ms", int
    )
    ws_queue: int = _setting(
        256, "messages queued for one WebSocket before it counts as a slow consumer", int
    )
    ws_ping_interval: float = _setting(20.0, "seconds between WebSocket protocol pings", float)
    default_policy: str = _setting(
        "merge", "conflict policy of collections not named in --policies: merge, lww, "
        "server-wins, client-wins, manual")
    policies: str = _setting("", "per-collection conflict policies, e.g. todos=lww,notes=manual")
    resolvers: str = _setting(
        "", "custom resolvers, e.g. todos=myapp.sync:resolve_todo (a Python function)")
    log_level: str = _setting("info", "uvicorn log level")
    access_log: bool = _setting(
        False, "log a line per HTTP request (off by default: Python logging work on every request; "
        "/metrics counts requests and their latency)", _bool)

    @classmethod
    def documented(cls) -> list[tuple[str, str, Any, str]]:
        """(name, environment variable, default, help) for every setting."""
        return [
            (f.name, env_name(f.name), f.default, f.metadata["help"]) for f in fields(cls)
        ]

    @classmethod
    def from_sources(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then SYNCSERVER_* variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is not None:
                values[f.name] = parse_value(f.name, raw)
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        return cls(**values)


def env_name(name: str) -> str:
    return "SYNCSERVER_" + name.upper()


def parse_value(name: str, raw: str) -> Any:
    f = next(f for f in fields(Settings) if f.name == name)
    parse = f.metadata["parse"]
    try:
        return parse(raw) if parse else raw
    except ValueError as exc:
        raise SystemExit(f"bad value for {env_name(name)}: {exc}") from None
