"""One table of settings: each is a CLI flag and a SYNCSERVER_* environment variable.

Each setting has a kind (a whole number in a range, a choice, a boolean, checked text) that
parses and checks its value the same way from either source, so a bad value stops the
command at start with one line naming the flag, the variable and what is allowed, instead
of being taken silently, replaced by a default, or failing later with a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from ..collections.declared import NONE_DECLARED, Declared, load_collections
from .setting_kinds import (
    DEFAULT_CSP,
    Choice,
    Directory,
    Flag,
    Kind,
    Number,
    SettingError,
    Text,
    Whole,
    check_claim_value,
    check_collections_file,
    check_csp,
    check_database,
    check_host,
    check_jwks,
    check_jwt_secret,
    check_metrics_token,
    check_notify_new,
    check_origins,
    check_policies,
    check_policy,
    check_readable_file,
    check_resolvers,
    check_secret,
    check_vapid_key,
    check_vapid_subject,
    mask_password,
    parse_notify_new,
)

POLICY_NAMES = "merge, lww, server-wins, client-wins, manual"
# never printed: not in `syncserver settings`, not in an error
HIDDEN = {"secret", "jwt_secret", "metrics_token", "webpush_vapid_key"}


def _setting(default: Any, help: str, kind: Kind) -> Any:
    return field(default=default, metadata={"help": help, "kind": kind})


class Documented(NamedTuple):
    """One setting, as the docs and `syncserver settings` show it."""

    name: str
    env: str  # its environment variable
    default: Any
    help: str


class Resolved(NamedTuple):
    settings: Settings
    sources: dict[str, str]  # setting name -> default, environment or flag


@dataclass(frozen=True)
class Settings:
    db: str = _setting("syncserver.db", "SQLite file path, or a sqlite:/// or postgresql:// URL",
                       Text("a file path, a sqlite:///path URL or a "
                            "postgresql://user@host:port/database URL", check_database))
    host: str = _setting("127.0.0.1", "address to listen on", Text("an address", check_host))
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
        Text("empty, or at least 16 characters", check_secret))
    sqlite_synchronous: str = _setting(
        "FULL", "SQLite synchronous pragma (FULL: a commit survives power loss; NORMAL: faster)",
        Choice(("FULL", "EXTRA", "NORMAL"),
               "OFF is refused: on power loss it can lose acknowledged writes and corrupt "
               "the database"))
    sqlite_startup_check: float = _setting(
        10.0, "seconds SQLite's quick_check may spend at start looking for damaged pages (a "
        "damaged file is refused); a file too large for them is checked in part; 0: no check",
        Number(0, 3600))
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
    # Bounds under hostile load (docs/guarantees.md, guarantee 12; docs/protocol.md "Limits").
    max_page_bytes: int = _setting(
        4_000_000, "largest changes page (HTTP and WebSocket catch-up) in bytes of changes; "
        "a page always holds at least one change", Whole(1_024, 1_073_741_824))
    max_filter_collections: int = _setting(
        100, "most collection names in one `collections` filter", Whole(1, 1_000_000))
    max_pull_spaces: int = _setting(
        1_000, "most spaces in one POST /v1/pull (past it 400 too_many_spaces); the default "
        "is the most a token can grant", Whole(1, 100_000))
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
    max_header_bytes: int = _setting(
        32_768, "most bytes of a request's line and headers; past it the request is "
        "answered 431 headers_too_large and its connection closed", Whole(1_024, 16_777_216))
    max_headers: int = _setting(
        100, "most header fields in one request; past it 431 headers_too_large and the "
        "connection is closed", Whole(8, 100_000))
    body_timeout: float = _setting(
        30.0, "seconds a client has to send a push or resolution body (408 past it)",
        Number(0.1, 3600))
    ws_max_subscriptions: int = _setting(
        200, "most subscriptions on one WebSocket connection: a client follows every space "
        "of its user on one socket (each costs about 2.5 KB and a catch-up read)",
        Whole(1, 100_000))
    max_subscriptions: int = _setting(
        20_000, "most WebSocket subscriptions held at once over all connections (about 2.5 KB "
        "each once caught up, more while a flood of them catches up: docs/benchmarks.md); "
        "past it a subscribe is refused with too_many_subscriptions and a retry_after",
        Whole(1, 100_000_000))
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
        Text(f"one of {POLICY_NAMES}", check_policy))
    policies: str = _setting(
        "", "per-collection conflict policies, e.g. todos=lww,notes=manual",
        Text(f"collection=policy pairs, e.g. todos=lww,notes=manual, policies: {POLICY_NAMES}",
             check_policies))
    resolvers: str = _setting(
        "", "custom resolvers, e.g. todos=myapp.sync:resolve_todo (a Python function)",
        Text("collection=package.module:function pairs, each an importable function",
             check_resolvers))
    collections: str = _setting(
        "", "the collections file (TOML or JSON, docs/collections.md): per collection a JSON "
        "Schema, the roles that may read, create, update, delete, the conflict policy and the "
        "app version; empty: every collection open to anyone the space grants",
        Text("empty, or a readable .toml or .json collections file", check_collections_file))
    log_level: str = _setting(
        "info", "uvicorn log level",
        Choice(("critical", "error", "warning", "info", "debug", "trace")))
    access_log: bool = _setting(
        False, "log a line per HTTP request (off by default: Python logging work on every "
        "request; /metrics counts requests and their latency)", Flag())

    ssl_certfile: str = _setting(
        "", "serve HTTPS with this certificate (PEM, the chain after it); needs "
        "--ssl-keyfile; empty: plain HTTP", Text("empty, or a readable PEM file",
                                                 check_readable_file))
    ssl_keyfile: str = _setting(
        "", "the private key of --ssl-certfile (PEM, not encrypted)",
        Text("empty, or a readable PEM file", check_readable_file))
    hsts_max_age: int = _setting(
        31_536_000, "Strict-Transport-Security max-age in seconds, sent only when this "
        "server serves HTTPS itself (0: no header)", Whole(0, 63_072_000))
    csp: str = _setting(
        DEFAULT_CSP, "Content-Security-Policy of served pages (the demo, --static); `off`: "
        "none", Text("a policy (directives separated by ;), or off", check_csp))
    cors_origins: str = _setting(
        "", "origins (scheme://host[:port], comma-separated) whose pages may call the API "
        "and open its WebSocket; empty: the server's own origin only",
        Text("empty, or exact origins such as https://app.example.com,"
             "http://localhost:5173", check_origins))
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
        Text("empty, or at least 32 characters", check_jwt_secret))
    jwks: str = _setting(
        "", "JWKS file path or http(s) URL of the RS256/ES256 keys that verify tokens",
        Text("empty, an existing file, or an http(s) URL", check_jwks))
    jwks_refresh: float = _setting(
        60.0, "least seconds between two reloads of the JWKS (a token with an unknown kid "
        "reloads it)", Number(1, 86_400))
    jwt_issuer: str = _setting(
        "", "required `iss` claim of tokens; empty: not checked",
        Text("empty, or text without surrounding spaces or control characters", check_claim_value))
    jwt_audience: str = _setting(
        "", "required `aud` claim of tokens; empty: not checked",
        Text("empty, or text without surrounding spaces or control characters", check_claim_value))
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

    # Web Push (docs/protocol.md "Web Push", docs/deployment.md "Web Push").
    webpush_vapid_key: str = _setting(
        "", "Web Push: the VAPID private key (base64url, as `syncserver vapid` prints it, or "
        "PEM); empty: Web Push is off, except with --dev (a key generated once and kept in "
        "the database)", Text("empty, a base64url P-256 private key or a PEM key",
                              check_vapid_key))
    webpush_vapid_key_file: str = _setting(
        "", "Web Push: a file holding the VAPID private key (PEM or base64url), instead of "
        "--webpush-vapid-key", Text("empty, or a readable file", check_readable_file))
    webpush_subject: str = _setting(
        "", "Web Push: the VAPID `sub`, how push services reach you (mailto:you@example.com "
        "or an https: URL); required with a VAPID key",
        Text("empty, mailto:address or https://host", check_vapid_subject))
    webpush_allow_loopback: bool = _setting(
        False, "Web Push: accept push endpoints on this machine (http or https, 127.0.0.1, "
        "::1, localhost), for tests and development; off: only https on a public host",
        Flag())
    webpush_min_interval: float = _setting(
        10.0, "Web Push: least seconds between two sync nudges of one device for one space; "
        "changes meanwhile make one nudge with the newest head when the interval ends",
        Number(0, 86_400))
    webpush_ttl: int = _setting(
        86_400, "Web Push: seconds a push service keeps a nudge or notification for a device "
        "that is offline (the TTL header)", Whole(0, 2_419_200))
    webpush_queue: int = _setting(
        10_000, "Web Push: pushes waiting to be sent; a change's nudges wait for room, "
        "anything else past it drops the oldest waiting one (counted)", Whole(1, 10_000_000))
    webpush_senders: int = _setting(
        8, "Web Push: pushes sent at once (each an HTTPS request to a push service)",
        Whole(1, 1_000))
    webpush_notify_rate: float = _setting(
        10.0, "Web Push: POST /v1/notify requests one user may make a minute (a burst of "
        "as many); beyond it 429 rate_limited", Number(0.01, 1_000_000))
    webpush_notify_new: str = _setting(
        "", "Web Push: collections whose new records notify, as collection=Title pairs "
        "(messages=New message,todos=New item): a sync nudge then carries the counts of new "
        "records and the title, for the devices of other users; empty: off",
        Text("empty, or collection=Title pairs separated by commas (titles plain text, at "
             "most 100 characters, no commas; at most 20 collections)", check_notify_new))
    webpush_max_subscriptions: int = _setting(
        20, "Web Push: most push subscriptions (devices) of one user; past it "
        "429 too_many_subscriptions", Whole(1, 100_000))

    metrics_token: str = _setting(
        "", "bearer token that /metrics requires (Authorization: Bearer ...); `off`: "
        "/metrics is not served (404); empty: /metrics is open to anyone who reaches the "
        "server", Text("empty, off, or at least 16 characters without spaces",
                       check_metrics_token))

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
        if (self.webpush_vapid_key or self.webpush_vapid_key_file) and not self.webpush_subject:
            raise SettingError("--webpush-vapid-key / SYNCSERVER_WEBPUSH_VAPID_KEY is set but "
                               "--webpush-subject / SYNCSERVER_WEBPUSH_SUBJECT is not: push "
                               "services require a contact (mailto:you@example.com)")
        if self.dev and self.auth == "none":
            raise SettingError("--dev / SYNCSERVER_DEV turns auth on with a generated key, "
                               "--auth none / SYNCSERVER_AUTH=none turns it off: give one "
                               "of them")

    def check_auth(self) -> None:
        """The server can verify tokens, or was told explicitly not to (serve only: the
        other commands verify none); and roles, if the collections file asks for any, can
        be checked."""
        if self.auth == "none" and self.collections and self.declared().restricted():
            raise SettingError(
                f"--collections {self.collections} gives some collection roles (a read, "
                "create, update or delete list other than [\"*\"]), but --auth none / "
                "SYNCSERVER_AUTH=none has no tokens to check them against: every user would "
                "pass or none would. Turn auth on (--jwt-secret or --jwks, or --dev on your "
                "own machine), or make every role list [\"*\"]")
        if self.auth == "jwt" and not (self.jwt_secret or self.jwks or self.dev):
            raise SettingError(
                "auth is on (the default) but there is no key to verify tokens: set "
                "--jwt-secret / SYNCSERVER_JWT_SECRET (HS256) or --jwks / SYNCSERVER_JWKS "
                "(RS256, ES256); or, on your own machine, `syncserver serve --dev`; or, behind "
                "an auth proxy of your own, `--auth none` / SYNCSERVER_AUTH=none")

    def declared(self) -> Declared:
        """The collections file, read and checked (NONE_DECLARED without one: every
        collection open, as before). Read again at each call: hold on to the answer."""
        return load_collections(self.collections) if self.collections else NONE_DECLARED

    @property
    def webpush(self) -> bool:
        """Web Push is on: a VAPID key is configured, or dev mode generates one."""
        return bool(self.webpush_vapid_key or self.webpush_vapid_key_file or self.dev)

    @property
    def notify_new(self) -> dict[str, str]:
        """The collections whose new records notify, and their titles (empty: none)."""
        return parse_notify_new(self.webpush_notify_new) if self.webpush else {}

    @property
    def tls(self) -> bool:
        """This process serves HTTPS itself (not a proxy in front of it)."""
        return bool(self.ssl_certfile)

    @classmethod
    def documented(cls) -> list[Documented]:
        """Every setting's name, environment variable, default and help."""
        return [
            Documented(f.name, env_name(f.name), f.default, f.metadata["help"])
            for f in fields(cls)
        ]

    @classmethod
    def from_sources(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then SYNCSERVER_* variables, then explicit overrides (CLI flags)."""
        return cls.resolve(overrides, environ).settings

    @classmethod
    def resolve(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Resolved:
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
        return Resolved(cls(**values), sources)


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
