"""One table of settings: each is a CLI flag and a SYNCSERVER_* environment variable.

Each setting has a kind (a whole number in a range, a choice, a boolean, checked text) that
parses and checks its value the same way from either source, so a bad value stops the
command at start with one line naming the flag, the variable and what is allowed, instead
of being taken silently, replaced by a default, or failing later with a traceback.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class SettingError(ValueError):
    """A bad setting; str() is the one line an operator sees."""


@dataclass(frozen=True)
class Whole:
    lo: int
    hi: int

    @property
    def allowed(self) -> str:
        return f"a whole number from {self.lo} to {self.hi}"

    def parse(self, raw: str) -> int:
        return int(raw.strip())

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) \
                or not self.lo <= value <= self.hi:
            raise ValueError
        return value


@dataclass(frozen=True)
class Number:
    lo: float
    hi: float

    @property
    def allowed(self) -> str:
        return f"a number from {self.lo:g} to {self.hi:g}"

    def parse(self, raw: str) -> float:
        return float(raw.strip())

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not self.lo <= value <= self.hi:
            raise ValueError
        return float(value)


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    note: str = ""  # why a value someone might expect is missing

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.values) + (f" ({self.note})" if self.note else "")

    def parse(self, raw: str) -> str:
        return raw.strip()

    def check(self, value: Any) -> Any:
        # Case does not matter (`normal`, `NORMAL`); the value in force is the listed one.
        wanted = str(value).strip().lower()
        for choice in self.values:
            if choice.lower() == wanted:
                return choice
        raise ValueError


@dataclass(frozen=True)
class Flag:
    allowed: str = "1/0, true/false, yes/no or on/off"

    def parse(self, raw: str) -> bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError
        return value


@dataclass(frozen=True)
class Text:
    """Free text checked by a function that raises ValueError with the precise reason."""

    allowed: str
    validate: Callable[[str], None] = lambda value: None

    def parse(self, raw: str) -> str:
        return raw

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError
        self.validate(value)
        return value


@dataclass(frozen=True)
class Directory:
    """A folder that must exist when the command starts (empty: not set). Checked at start
    so that a typo is one line, not a server that answers 404 to everything."""

    allowed: str

    def parse(self, raw: str) -> str:
        return raw

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError
        if value == "":
            return value
        if not os.path.exists(value):
            raise ValueError("no such directory")
        if not os.path.isdir(value):
            raise ValueError("not a directory")
        if not os.access(value, os.R_OK | os.X_OK):
            raise ValueError("this user cannot read the directory")
        return value


Kind = Whole | Number | Choice | Flag | Text | Directory


# What users write for PostgreSQL (migrate.database_url turns each into SQLAlchemy's
# postgresql+psycopg://: psycopg 3, docs/deployment.md "Why psycopg 3").
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_postgresql(db: str) -> bool:
    return "://" in db and db.split("://", 1)[0] in POSTGRES_SCHEMES


def mask_password(db: str) -> str:
    """A database URL fit to print: the password of user:password@ is masked."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", db)


def _database(value: str) -> None:
    if is_postgresql(value):
        from sqlalchemy.engine import make_url

        try:
            url = make_url("postgresql://" + value.split("://", 1)[1])
        except Exception:
            raise ValueError("not a URL of the form postgresql://user@host:port/database") \
                from None
        if not url.database:
            raise ValueError("no database name: postgresql://user@host:port/DATABASE")
        return
    if "://" in value and not value.startswith(("sqlite:///", "sqlite+pysqlite:///")):
        scheme = value.split("://", 1)[0]
        raise ValueError(f"the {scheme}:// scheme is not supported: give a SQLite file "
                         "path or a postgresql:// URL")
    path = value.split(":///", 1)[1] if "://" in value else value
    if not path.strip():
        raise ValueError("no file path given")
    if path == ":memory:" or "mode=memory" in path:
        raise ValueError("an in-memory database would lose every write when the server stops")


def _host(value: str) -> None:
    if not value or any(c.isspace() for c in value):
        raise ValueError("no address given")


def _secret(value: str) -> None:
    if 0 < len(value) < 16:
        raise ValueError(f"{len(value)} characters is too short to sign cursors")


def _policy(value: str) -> None:
    from .policies import PolicyTable

    PolicyTable.parse(value, "", "")


def _policies(value: str) -> None:
    from .policies import PolicyTable

    PolicyTable.parse("merge", value, "")


def _resolvers(value: str) -> None:
    from .policies import PolicyTable

    PolicyTable.parse("merge", "", value)  # imports each function: a typo fails at start


def _readable_file(value: str) -> None:
    if value == "":
        return
    if not os.path.exists(value):
        raise ValueError("no such file")
    if not os.path.isfile(value):
        raise ValueError("not a file")
    if not os.access(value, os.R_OK):
        raise ValueError("this user cannot read the file")


def _csp(value: str) -> None:
    if not value.strip():
        raise ValueError("empty: give a policy, or `off` to send none")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("control characters cannot be sent in a header")


def _origins(value: str) -> None:
    from .cors import parse_origins

    parse_origins(value)


# The policy pages (the demo, --static apps) are served with: everything from the page's
# own origin, images also as data: URLs, the API and its WebSocket on any ws:/wss: host
# (browsers differ on whether 'self' covers WebSocket URLs), and no framing, plugins,
# <base> or cross-origin form posts. The demo runs under it (tests/security).
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
               "img-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self'; "
               "manifest-src 'self'; object-src 'none'; base-uri 'self'; "
               "form-action 'self'; frame-ancestors 'none'")


def _jwt_secret(value: str) -> None:
    from .tokens import MIN_SECRET

    if 0 < len(value) < MIN_SECRET:
        raise ValueError(f"{len(value)} characters is too short for HS256: use at least "
                         f"{MIN_SECRET} random characters")


def _jwks(value: str) -> None:
    if value and not value.startswith(("http://", "https://")) and not os.path.isfile(value):
        raise ValueError("neither an http(s) URL nor an existing file")


def _claim_value(value: str) -> None:
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("spaces around it or control characters: a token's claim would "
                         "never match it")


def _metrics_token(value: str) -> None:
    if value in ("", "off"):
        return
    if len(value) < 16:
        raise ValueError(f"{len(value)} characters is too short for a secret: use at least 16 "
                         "random characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("spaces or control characters cannot be sent in a header")


POLICY_NAMES = "merge, lww, server-wins, client-wins, manual"
# never printed: not in `syncserver settings`, not in an error
HIDDEN = {"secret", "jwt_secret", "metrics_token"}


def _setting(default: Any, help: str, kind: Kind) -> Any:
    return field(default=default, metadata={"help": help, "kind": kind})


@dataclass(frozen=True)
class Settings:
    db: str = _setting("syncserver.db", "SQLite file path, or a sqlite:/// or postgresql:// URL",
                       Text("a file path, a sqlite:///path URL or a "
                            "postgresql://user@host:port/database URL", _database))
    host: str = _setting("127.0.0.1", "address to listen on", Text("an address", _host))
    port: int = _setting(8000, "port to listen on", Whole(1, 65535))
    migrate: bool = _setting(True, "run pending migrations when the server starts", Flag())
    demo: bool = _setting(
        True, "serve the demo PWA at / and the client library at /sync/ (--static replaces "
        "the demo)", Flag())
    static: str = _setting(
        "", "your own app: serve this folder at / (instead of the demo) and the client "
        "library at /sync/; empty: not served", Directory("empty, or an existing directory"))
    secret: str = _setting(
        "", "key that signs cursors; empty: generated once and kept in the database",
        Text("empty, or at least 16 characters", _secret))
    sqlite_synchronous: str = _setting(
        "FULL", "SQLite synchronous pragma (FULL: a commit survives power loss; NORMAL: faster)",
        Choice(("FULL", "EXTRA", "NORMAL"),
               "OFF is refused: on power loss it can lose acknowledged writes and corrupt "
               "the database"))
    postgres_pool_size: int = _setting(
        10, "PostgreSQL connections this instance keeps open (its concurrent transactions)",
        Whole(1, 1000))
    fanout_catchup_interval: float = _setting(
        1.0, "PostgreSQL: seconds between two checks of the spaces this instance serves "
        "against the database (a lost change notification delays a change by at most "
        "this)", Number(0.05, 3600))
    max_batch_mutations: int = _setting(
        1000, "most mutations in one push batch", Whole(1, 100_000))
    max_batch_bytes: int = _setting(
        4_000_000, "largest push body in bytes", Whole(1_024, 1_073_741_824))
    max_record_bytes: int = _setting(
        256_000, "largest record: its data and conflict metadata, in bytes of JSON",
        Whole(16, 1_073_741_824))
    max_depth: int = _setting(
        64, "most levels of objects and arrays in a record's data", Whole(1, 254))
    max_page: int = _setting(1000, "largest changes page (limit)", Whole(1, 100_000))
    max_wait: float = _setting(
        60.0, "longest long-poll wait in seconds (0: a `wait` above 0 is refused)", Number(0, 3600))
    max_clock_drift_ms: int = _setting(
        60_000, "how far ahead of server time a client HLC stamp may be, in ms",
        Whole(0, 604_800_000))
    ws_queue: int = _setting(
        256, "messages queued for one WebSocket before it counts as a slow consumer",
        Whole(1, 1_000_000))
    ws_ping_interval: float = _setting(
        20.0, "seconds between WebSocket protocol pings", Number(1, 3600))
    # Bounds under hostile load (DESIGN.md guarantee 12; docs/protocol.md "Limits").
    max_page_bytes: int = _setting(
        4_000_000, "largest changes page (HTTP and WebSocket catch-up) in bytes of changes; "
        "a page always holds at least one change", Whole(1_024, 1_073_741_824))
    max_filter_collections: int = _setting(
        100, "most collection names in one `collections` filter", Whole(1, 1_000_000))
    max_long_polls: int = _setting(
        1_000, "most long-polls waiting at once; beyond it a long-poll answers at once, "
        "as a plain pull", Whole(0, 1_000_000))
    max_connections: int = _setting(
        10_000, "most open WebSocket connections; beyond it a handshake is refused with "
        "503 and Retry-After", Whole(1, 1_000_000))
    ws_max_queued_bytes: int = _setting(
        8_000_000, "bytes of frames queued for one WebSocket (catch-up, replies and live "
        "changes) before it counts as a slow consumer", Whole(1_024, 1_073_741_824))
    header_timeout: float = _setting(
        10.0, "seconds a client has to send a request's headers, from the connection's "
        "opening or the request's first byte, before the connection is closed",
        Number(0.1, 3600))
    body_timeout: float = _setting(
        30.0, "seconds a client has to send a push or resolution body (408 past it)",
        Number(0.1, 3600))
    ws_max_subscriptions: int = _setting(
        20, "most subscriptions on one WebSocket connection (each costs about 2.5 KB and a "
        "catch-up read)", Whole(1, 100_000))
    max_pages_in_flight_bytes: int = _setting(
        32_000_000, "bytes of changes pages (HTTP pulls, WebSocket catch-up) held at once "
        "for clients that have not taken them yet, over all connections; past it a page "
        "waits for room (an HTTP pull 10 s, then 503 server_busy)",
        Whole(1_048_576, 68_719_476_736))
    send_timeout: float = _setting(
        60.0, "seconds a client has to take each part of an answer (256 KB of a changes "
        "page, a WebSocket frame) before its connection is dropped", Number(1, 3600))
    max_open_connections: int = _setting(
        0, "most client connections open at once, of every kind (HTTP, long-polls, "
        "WebSockets); past it a new connection is answered 503 server_busy and closed; 0: "
        "the file-descriptor limit (ulimit -n) less a reserve of 64", Whole(0, 10_000_000))
    default_policy: str = _setting(
        "merge", f"conflict policy of collections not named in --policies: {POLICY_NAMES}",
        Text(f"one of {POLICY_NAMES}", _policy))
    policies: str = _setting(
        "", "per-collection conflict policies, e.g. todos=lww,notes=manual",
        Text(f"collection=policy pairs, e.g. todos=lww,notes=manual, policies: {POLICY_NAMES}",
             _policies))
    resolvers: str = _setting(
        "", "custom resolvers, e.g. todos=myapp.sync:resolve_todo (a Python function)",
        Text("collection=package.module:function pairs, each an importable function",
             _resolvers))
    log_level: str = _setting(
        "info", "uvicorn log level",
        Choice(("critical", "error", "warning", "info", "debug", "trace")))
    access_log: bool = _setting(
        False, "log a line per HTTP request (off by default: Python logging work on every "
        "request; /metrics counts requests and their latency)", Flag())

    ssl_certfile: str = _setting(
        "", "serve HTTPS with this certificate (PEM, the chain after it); needs "
        "--ssl-keyfile; empty: plain HTTP", Text("empty, or a readable PEM file",
                                                 _readable_file))
    ssl_keyfile: str = _setting(
        "", "the private key of --ssl-certfile (PEM, not encrypted)",
        Text("empty, or a readable PEM file", _readable_file))
    hsts_max_age: int = _setting(
        31_536_000, "Strict-Transport-Security max-age in seconds, sent only when this "
        "server serves HTTPS itself (0: no header)", Whole(0, 63_072_000))
    csp: str = _setting(
        DEFAULT_CSP, "Content-Security-Policy of served pages (the demo, --static); `off`: "
        "none", Text("a policy (directives separated by ;), or off", _csp))
    cors_origins: str = _setting(
        "", "origins (scheme://host[:port], comma-separated) whose pages may call the API "
        "and open its WebSocket; empty: the server's own origin only",
        Text("empty, or exact origins such as https://app.example.com,"
             "http://localhost:5173", _origins))
    cors_max_age: int = _setting(
        600, "seconds a browser may keep a CORS preflight answer", Whole(0, 86_400))
    auth: str = _setting(
        "jwt", "authentication: jwt (bearer JWTs, verified with --jwt-secret or --jwks; see "
        "docs/security.md) or none (anyone who reaches the server reads and writes every "
        "space: only behind an auth proxy of your own)", Choice(("jwt", "none")))
    dev: bool = _setting(
        False, "development mode, for your own machine only: auth on with an HS256 secret "
        "generated once and kept in the database, and POST /v1/dev/token hands any local "
        "caller a token for any user", Flag())
    jwt_secret: str = _setting(
        "", "HS256 secret that verifies tokens (and mints dev tokens with `syncserver token`)",
        Text("empty, or at least 32 characters", _jwt_secret))
    jwks: str = _setting(
        "", "JWKS file path or http(s) URL of the RS256/ES256 keys that verify tokens",
        Text("empty, an existing file, or an http(s) URL", _jwks))
    jwks_refresh: float = _setting(
        60.0, "least seconds between two reloads of the JWKS (a token with an unknown kid "
        "reloads it)", Number(1, 86_400))
    jwt_issuer: str = _setting(
        "", "required `iss` claim of tokens; empty: not checked",
        Text("empty, or text without surrounding spaces or control characters", _claim_value))
    jwt_audience: str = _setting(
        "", "required `aud` claim of tokens; empty: not checked",
        Text("empty, or text without surrounding spaces or control characters", _claim_value))
    jwt_leeway: float = _setting(
        30.0, "seconds of clock skew allowed on a token's exp and nbf", Number(0, 600))
    # Per-user limits (auth on; docs/security.md "Rate limits").
    rate_limit: float = _setting(
        100.0, "requests a second one user (token `sub`) may make on average: pushes, pulls, "
        "conflict requests, WebSocket push and subscribe frames; beyond it 429 and "
        "Retry-After (0: no rate limit; auth none: not applied)", Number(0, 1_000_000))
    rate_burst: int = _setting(
        1_000, "requests one user may make at once before --rate-limit applies (the token "
        "bucket's size)", Whole(1, 1_000_000))
    max_user_connections: int = _setting(
        100, "most WebSockets and waiting long-polls one user (token `sub`) holds at once; "
        "beyond it 429 / close 4429 too_many_connections (auth none: not applied)",
        Whole(1, 1_000_000))

    metrics_token: str = _setting(
        "", "bearer token that /metrics requires (Authorization: Bearer ...); `off`: "
        "/metrics is not served (404); empty: /metrics is open to anyone who reaches the "
        "server", Text("empty, off, or at least 16 characters without spaces",
                       _metrics_token))

    def __post_init__(self) -> None:
        # Settings built in code (tests, create_app) are held to the same table.
        for f in fields(self):
            object.__setattr__(self, f.name, checked(f.name, getattr(self, f.name), "code"))
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            given, missing = ("ssl_certfile", "ssl_keyfile") if self.ssl_certfile else \
                ("ssl_keyfile", "ssl_certfile")
            raise SettingError(
                f"{flag_name(given)} / {env_name(given)} is set but {flag_name(missing)} / "
                f"{env_name(missing)} is not: HTTPS needs both the certificate and its key "
                "(or neither, for plain HTTP)")
        if self.dev and self.auth == "none":
            raise SettingError("--dev / SYNCSERVER_DEV turns auth on with a generated key, "
                               "--auth none / SYNCSERVER_AUTH=none turns it off: give one "
                               "of them")

    def check_auth(self) -> None:
        """The server can verify tokens, or was told explicitly not to (serve only: the
        other commands verify none)."""
        if self.auth == "jwt" and not (self.jwt_secret or self.jwks or self.dev):
            raise SettingError(
                "auth is on (the default) but there is no key to verify tokens: set "
                "--jwt-secret / SYNCSERVER_JWT_SECRET (HS256) or --jwks / SYNCSERVER_JWKS "
                "(RS256, ES256); or, on your own machine, `syncserver serve --dev`; or, behind "
                "an auth proxy of your own, `--auth none` / SYNCSERVER_AUTH=none")

    @property
    def tls(self) -> bool:
        """This process serves HTTPS itself (not a proxy in front of it)."""
        return bool(self.ssl_certfile)

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
        return cls.resolve(overrides, environ)[0]

    @classmethod
    def resolve(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> tuple[Settings, dict[str, str]]:
        """The settings and where each value came from: default, environment or flag.
        Flag values may be raw strings (parsed here) or values of the setting's type.
        Raises SettingError on the first bad value."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources = {f.name: "default" for f in fields(cls)}
        for f in fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is not None:
                values[f.name] = parse_value(f.name, raw, "environment")
                sources[f.name] = "environment"
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = parse_value(name, value, "flag") if isinstance(value, str) \
                    else checked(name, value, "flag")
                sources[name] = "flag"
        return cls(**values), sources


def env_name(name: str) -> str:
    return "SYNCSERVER_" + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def kind_of(name: str) -> Kind:
    kind: Kind = next(f.metadata["kind"] for f in fields(Settings) if f.name == name)
    return kind


def parse_value(name: str, raw: str, source: str) -> Any:
    """A raw string from the environment or a flag -> the checked value."""
    try:
        value = kind_of(name).parse(raw)
    except ValueError:
        raise _bad(name, raw, source, "") from None
    return checked(name, value, source, raw)


def checked(name: str, value: Any, source: str, raw: Any = None) -> Any:
    try:
        return kind_of(name).check(value)
    except ValueError as exc:
        raise _bad(name, value if raw is None else raw, source, str(exc)) from None


def _bad(name: str, value: Any, source: str, reason: str) -> SettingError:
    given = {"environment": " (from the environment)", "flag": " (from the flag)"
             }.get(source, "")
    if name == "db" and isinstance(value, str):
        value = mask_password(value)
    shown = "(hidden)" if name in HIDDEN else \
        repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    because = f": {' '.join(reason.split())}" if reason else ""
    return SettingError(f"{flag_name(name)} / {env_name(name)}: bad value {shown}{given}"
                        f"{because}; expected {kind_of(name).allowed}")
