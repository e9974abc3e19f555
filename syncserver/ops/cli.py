"""The `syncserver` command: serve, migrate, compact, and the operator's other commands
(`collections check`: collections_check.py; `types`: typescript.py)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, NamedTuple

from ..config.setting_kinds import SettingError, is_postgresql, mask_password
from ..config.settings import HIDDEN, Resolved, Settings, env_name, flag_name, kind_of
from ..config.startup import StartupError
from ..model.version import describe
from . import collections_check, typescript

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
           "w": 604_800_000}


def parse_duration(text: str) -> int:
    """'30d' -> milliseconds."""
    match = DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and a unit, e.g. 30d, 12h, 15m, 45s")
    return int(float(match.group(1)) * UNIT_MS[match.group(2)])


def _add_settings(parser: argparse.ArgumentParser, names: set[str] | None) -> None:
    for f in fields(Settings):
        if names is not None and f.name not in names:
            continue
        flag = flag_name(f.name)
        help_text = (f"{f.metadata['help']}; {kind_of(f.name).allowed} "
                     f"(env {env_name(f.name)}, default {f.default!r})").replace("%", "%%")
        if isinstance(f.default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:  # a raw string: Settings.resolve parses and checks it, as it does the env's
            parser.add_argument(flag, dest=f.name, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncserver", description="Offline-first sync server for Progressive Web Apps.")
    parser.add_argument("--version", action="version", version=describe())
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (migrates the database first)")
    _add_settings(serve, None)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    _add_settings(migrate, {"db"})
    compact = sub.add_parser(
        "compact", help="purge tombstones and mutation results older than a horizon")
    _add_settings(compact, {"db", "sqlite_synchronous"})
    compact.add_argument("--older-than", type=parse_duration, required=True,
                         help="age of what is purged, e.g. 30d, 12h; cursors from before the "
                              "purged tombstones then get 410 resync_required")
    shown = sub.add_parser(
        "settings", help="print the settings in force (defaults, environment and these "
                         "flags) as a Markdown table, with where each value came from")
    _add_settings(shown, None)
    restore = sub.add_parser(
        "restore", help="put a backup in place of the database, with a new epoch (server "
                        "stopped): clients' older cursors then get 410 resync_required")
    restore.add_argument("backup", help="the backup file (a SQLite copy of the database)")
    _add_settings(restore, {"db"})
    new_epoch = sub.add_parser(
        "new-epoch", help="give the database a new epoch after restoring it by other means "
                          "(server stopped): older cursors then get 410 resync_required")
    _add_settings(new_epoch, {"db"})
    token = sub.add_parser(
        "token", help="mint a development token (HS256) from the configured --jwt-secret, or "
                      "with --dev from the secret `serve --dev` keeps in --db; prints only "
                      "the token")
    _add_settings(token, {"jwt_secret", "jwt_issuer", "jwt_audience", "dev", "db"})
    token.add_argument("--sub", required=True, help="the user the token is for")
    token.add_argument("--space", action="append", default=[], type=_grant,
                       help="a space and its right, e.g. alice:rw, team-1:r or user-{sub}:rw "
                            "(repeat for several; with --dev, none given: user-{sub} and "
                            "demo, as POST /v1/dev/token)")
    token.add_argument("--role", action="append", default=[], type=_role,
                       help="a role of the token, e.g. member (in every space it grants) "
                            "or team-1:editor (in that space; a pattern such as "
                            "user-{sub}:editor too); the declared collections' role lists "
                            "check them (repeat for several)")
    token.add_argument("--ttl", type=parse_duration, default=3_600_000,
                       help="how long the token is valid, e.g. 15m, 1h, 7d (default 1h)")
    sub.add_parser("vapid", help="make a new VAPID key pair for Web Push and print it, with "
                                 "the settings that use it")
    conflicts = sub.add_parser("conflicts", help="list the conflict audit (newest last)")
    _add_settings(conflicts, {"db"})
    conflicts.add_argument("--space", default="", help="only this space")
    conflicts.add_argument("--collection", default="", help="only this collection")
    conflicts.add_argument("--status", choices=["open", "resolved"], default=None,
                           help="only open (manual, awaiting the app) or resolved conflicts")
    conflicts.add_argument("--limit", type=_positive, default=100,
                           help="how many rows at most")
    _add_settings(collections_check.add_parser(sub), {"db", "postgres_pool_size"})
    _add_settings(typescript.add_parser(sub), {"collections"})
    return parser


class Grant(NamedTuple):
    space: str
    right: str  # r or rw


def _grant(text: str) -> Grant:
    name, _, right = text.rpartition(":")
    if not name or right not in ("r", "rw"):
        raise argparse.ArgumentTypeError(f"{text!r} is not SPACE:r or SPACE:rw")
    return Grant(name, right)


class Role(NamedTuple):
    space: str  # a space, a pattern with {sub}, or "*" (every space of the token)
    role: str


def _role(text: str) -> Role:
    """[SPACE:]ROLE (a space name holds no colon: what comes before the first is one)."""
    from ..guard.permissions import EVERY_SPACE, role_names, space_named

    where, colon, name = text.partition(":")
    if not colon:
        where, name = EVERY_SPACE, text
    if (where != EVERY_SPACE and space_named(where, "sub") is None) or \
            not role_names([name]):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ROLE or SPACE:ROLE (a role name is 1 to 128 characters, not "
            "\"*\" or \"owner\"; a space a name or a pattern with {sub})")
    return Role(where, name)


def roles_claim(roles: list[Role]) -> dict[str, list[str]]:
    claim: dict[str, list[str]] = {}
    for where, name in roles:
        claim.setdefault(where, [])
        if name not in claim[where]:
            claim[where].append(name)
    return claim


def mint_token(settings: Settings, args: argparse.Namespace) -> None:
    from ..guard.auth import DEV_SECRET_NAME
    from ..guard.tokens import mint
    from . import devmode

    secret, spaces = settings.jwt_secret, dict(args.space)
    if settings.dev and not secret:
        secret = asyncio.run(_read_meta(settings, DEV_SECRET_NAME)) or ""
        if not secret:
            raise StartupError(f"--db {settings.db} holds no dev secret yet: start "
                               f"`syncserver serve --dev --db {settings.db}` once first")
        spaces = spaces or devmode.grants("{sub}", list(devmode.DEFAULT_SPACES))
    if not secret:
        raise StartupError("syncserver token needs the secret that verifies tokens: set "
                           "--jwt-secret or SYNCSERVER_JWT_SECRET, or --dev to use the one "
                           "`syncserver serve --dev` keeps in --db (tokens of a JWKS issuer "
                           "are minted by that issuer)")
    print(mint(secret, args.sub, spaces, args.ttl / 1000,
               settings.jwt_issuer, settings.jwt_audience, roles_claim(args.role)))


async def _read_meta(settings: Settings, key: str) -> str | None:
    """A value of the database's key-value table, read without writing anything (beside
    a running server, too)."""
    from ..storage.factory import check_read_only, open_storage

    check_read_only(settings)
    storage = open_storage(settings, read_only=True)
    await storage.open()
    try:
        return await storage.meta(key)
    finally:
        await storage.close()


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def list_conflicts(settings: Settings, args: argparse.Namespace) -> None:
    import orjson

    from ..storage.factory import check_read_only, open_storage

    check_read_only(settings)  # reads only: creates and migrates nothing

    async def run() -> list[dict[str, Any]]:
        storage = open_storage(settings, read_only=True)
        await storage.open()
        try:
            filters = {"space": args.space, "collection": args.collection,
                       "status": args.status or ""}
            return await storage.conflicts(filters, 0, args.limit)
        finally:
            await storage.close()

    rows = asyncio.run(run())
    if not rows:
        print("no conflicts recorded")
    for row in rows:
        outcome = orjson.loads(row["outcome"])
        fields = ",".join(f"{f['field']}:{f['winner']}" for f in outcome.get("fields", []))
        print(f"#{row['id']} {row['status']:8} {row['space']}/{row['collection']}/"
              f"{row['record_id']} policy={row['policy']} winner={outcome.get('winner')} "
              f"client={row['client_id']}#{row['mid']}" + (f" fields={fields}" if fields else ""))


def _settings(args: argparse.Namespace) -> Resolved:
    """Every setting checked (policies and resolvers included: a typo fails at start,
    not on the first conflict); a bad one raises SettingError."""
    overrides: dict[str, Any] = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    return Settings.resolve(overrides)


def tune_gc() -> None:
    """Keep the collector off the hot paths. Measured with the load tool: full collections
    over a large, long-lived heap put 100+ ms stalls into fan-out delivery (p99 150 ms, 24 ms
    with gc off). Startup objects are frozen out of every later collection, and young
    collections run less often; reference counting still frees almost everything at once.
    The `serve` command's choice, made once the app has started: the process is the
    server's. An app run by another program (create_app) leaves its collector alone."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def serve(settings: Settings) -> None:
    import uvicorn

    from ..config.startup import check_tls
    from ..core.collections_file import declared_for
    from ..core.service import policies_for
    from ..storage.factory import prepare
    from ..transport.serving import GRACEFUL_SECONDS, GracefulServer, bind, tune_allocator
    from ..transport.timeouts import HeaderLimits, OpenConnections, protocols
    from .app import create_app
    from .fdlimit import connection_capacity

    # Everything that can fail on the operator's side fails here, as one line, before
    # the server says it serves: the certificate, the database (lock, path, permissions,
    # migrations), then the port.
    tune_allocator()
    # The collections file, read once, and its policies against the flags': a setting's
    # problem, found before anything is opened.
    declared = declared_for(settings)
    policies_for(settings, declared)
    check_tls(settings)
    capacity, warning = connection_capacity(settings)
    if warning:
        print(f"syncserver: {warning}", file=sys.stderr, flush=True)
    http_protocol, ws_protocol = protocols(
        HeaderLimits(settings.header_timeout, settings.max_header_bytes, settings.max_headers),
        OpenConnections(capacity))
    lock = prepare(settings, migrate=settings.migrate)
    try:
        sock = bind(settings.host, settings.port)
        app = create_app(settings, lock=lock, declared=declared)
        # websockets-sansio: leaner per connection than the legacy implementation; no
        # per-message deflate: measured 3.6x memory per connection and slower fan-out for
        # small JSON frames. See docs/configuration.md.
        config = uvicorn.Config(
            app, ws=ws_protocol, ws_per_message_deflate=False,
            # A frame past a push's byte limit (and a margin for its envelope) is closed
            # with 1009 by the protocol layer, before it is buffered whole.
            ws_max_size=settings.max_batch_bytes + 65_536,
            ws_ping_interval=settings.ws_ping_interval, ws_ping_timeout=20.0,
            log_level=settings.log_level, access_log=settings.access_log, loop="auto",
            http=http_protocol,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            ssl_certfile=settings.ssl_certfile or None, ssl_keyfile=settings.ssl_keyfile or None)
        if settings.dev:
            from .devmode import banner

            for line in banner(settings):
                print(f"syncserver: {line}", file=sys.stderr)
        elif settings.auth == "none":
            from .devmode import auth_off_warning

            print(f"syncserver: {auth_off_warning()}", file=sys.stderr)
        scheme = "https" if settings.tls else "http"
        print(f"syncserver: serving {mask_password(settings.db)} on "
              f"{scheme}://{settings.host}:{settings.port}/"
              + (f" (your app from {settings.static} at /)" if settings.static else
                 " (demo app at /)" if settings.demo else ""), file=sys.stderr, flush=True)
        try:
            GracefulServer(config, app.state.service, on_started=tune_gc).run(sockets=[sock])
        except KeyboardInterrupt:  # a second Ctrl-C while stopping, as uvicorn.run does
            pass
    finally:
        lock.release()


def compact(settings: Settings, older_than_ms: int) -> None:
    from ..config.startup import DatabaseBusy
    from ..storage.factory import check_read_only, open_storage, prepare

    # Compaction runs beside a running server (docs/deployment.md): it assigns no seq and
    # publishes no change, so the server's single writer keeps the feed gap-free and its
    # waiters miss nothing; SQLite serializes the two write transactions. It migrates
    # only when no server runs (a schema change under a running server is refused).
    lock = None
    try:
        lock = prepare(settings, migrate=True)
    except DatabaseBusy:
        check_read_only(settings)  # the running server's schema must be the one we know

    async def run() -> None:
        storage = open_storage(settings)
        await storage.open()
        try:
            print(f"compacting {settings.db}: purging what is older than "
                  f"{older_than_ms / 1000:g} s ...", file=sys.stderr, flush=True)
            stats = await storage.compact(older_than_ms)
        finally:
            await storage.close()
        print(f"purged {stats.tombstones} tombstones, {stats.mutations} mutation results and "
              f"{stats.conflicts} resolved conflicts; trimmed the conflict metadata of "
              f"{stats.metadata} records")
        for space, horizon in sorted(stats.horizons.items()):
            print(f"  space {space}: cursors before seq {horizon} must resync")

    try:
        asyncio.run(run())
    finally:
        if lock is not None:
            lock.release()


def change_epoch(settings: Settings, args: argparse.Namespace) -> None:
    """restore, new-epoch (epoch.py; the file work: storage/sqlite/epoch.py), with the
    database's lock: a running server keeps the epoch it read at start, so it must be
    stopped first (every instance of a PostgreSQL database)."""
    from pathlib import Path

    from ..storage.epoch import EpochError
    from ..storage.sqlite import epoch as sqlite_epoch
    from ..storage.sqlite.backend import sqlite_path
    from ..storage.sqlite.startup import lock_database

    if is_postgresql(settings.db):
        new_epoch_postgresql(settings)
        return
    db = Path(sqlite_path(settings.db))
    if args.command == "new-epoch" and not db.is_file():  # the lock would create it
        raise StartupError(f"{db}: no such database file")
    existed = db.exists()
    lock = lock_database(db, f"stop it first, then run `syncserver {args.command}` again")
    try:
        if args.command == "restore":
            old, new = sqlite_epoch.restore(Path(args.backup), db)
            print(f"{db}: restored from {args.backup}; epoch {old} -> {new}")
        else:
            old, new = sqlite_epoch.new_epoch(db)
            print(f"{db}: epoch {old} -> {new}")
    except EpochError as exc:
        if not existed and db.stat().st_size == 0:  # the empty file the lock created
            db.unlink()
        raise StartupError(str(exc)) from None
    finally:
        lock.release()


def new_epoch_postgresql(settings: Settings) -> None:
    """`new-epoch` on PostgreSQL, after a restore done with PostgreSQL's own tools."""
    from ..storage import epoch
    from ..storage.factory import open_storage, prepare

    prepare(settings, migrate=False).release()  # the schema must be current; nothing made

    async def run() -> tuple[str, str]:
        storage = open_storage(settings)
        await storage.open()
        try:
            return await storage.write(epoch.renew)
        finally:
            await storage.close()

    old, new = asyncio.run(run())
    print(f"{mask_password(settings.db)}: epoch {old} -> {new}")


# A SQLite file operation, with no PostgreSQL meaning (docs/deployment.md: restore with
# pg_restore or a base backup, then `syncserver new-epoch`).
SQLITE_ONLY = {"restore"}


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings, sources = _settings(args)
        if args.command == "serve":
            settings.check_auth()  # no way to verify tokens and no explicit choice
    except SettingError as exc:  # a usage error: status 2, as argparse's own
        print(f"syncserver: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if is_postgresql(settings.db) and args.command in SQLITE_ONLY:
        print(f"syncserver: --db / {env_name('db')}: `syncserver {args.command}` copies a "
              "SQLite file; on PostgreSQL, restore with pg_restore (or your base backups), "
              "stop every instance, then run `syncserver new-epoch --db URL`",
              file=sys.stderr, flush=True)
        raise SystemExit(2)
    try:
        run_command(args, settings, sources)
    except SettingError as exc:  # a --db the storage factory cannot serve (storage/factory.py)
        print(f"syncserver: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except StartupError as exc:
        print(f"syncserver: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except BrokenPipeError:  # `syncserver settings | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def run_command(args: argparse.Namespace, settings: Settings, sources: dict[str, str]) -> None:
    if args.command == "serve":
        serve(settings)
    elif args.command == "migrate":
        from ..storage.factory import prepare

        said: list[str] = []
        prepare(settings, migrate=True,
                on_migrated=lambda m: said.append(m.describe(mask_password(settings.db)))
                ).release()
        print(*said)
    elif args.command == "compact":
        compact(settings, args.older_than)
    elif args.command == "conflicts":
        list_conflicts(settings, args)
    elif args.command == "token":
        mint_token(settings, args)
    elif args.command == "settings":
        print(settings_table(settings, sources))
    elif args.command == "vapid":
        print_vapid()
    elif args.command in ("restore", "new-epoch"):
        change_epoch(settings, args)
    elif args.command == "collections":
        raise SystemExit(collections_check.run(settings, args))
    elif args.command == "types":
        typescript.write(settings, args.output)


def print_vapid() -> None:
    """`syncserver vapid`: a new key pair, and how to use it (docs/deployment.md)."""
    from ..webpush.vapid import generate

    private, public = generate()
    print(f"""# A new VAPID key pair for Web Push (RFC 8292). Keep the private key secret,
# and keep it: a new key invalidates every browser's push subscription.
SYNCSERVER_WEBPUSH_VAPID_KEY={private}
SYNCSERVER_WEBPUSH_SUBJECT=mailto:you@example.com
# The public key (GET /v1/webpush/key serves it to the browser client):
# {public}""")


def _shown(name: str, value: Any) -> str:
    if name in HIDDEN:
        return "(set)" if value else "(empty)"
    if value == "":
        return "(empty)"
    if name == "db":
        return mask_password(value)
    return str(value)


def settings_table(settings: Settings, sources: dict[str, str]) -> str:
    """The values in force, where each came from, what is allowed."""
    lines = ["| flag | environment variable | value | from | allowed | meaning |",
             "|---|---|---|---|---|---|"]
    for name, env, _default, help_text in Settings.documented():
        value = _shown(name, getattr(settings, name))
        lines.append(f"| `{flag_name(name)}` | `{env}` | `{value}` | {sources[name]} | "
                     f"{kind_of(name).allowed} | {help_text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
