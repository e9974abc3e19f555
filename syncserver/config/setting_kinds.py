"""The kinds of value a setting can have (a whole number in a range, a choice, a boolean,
checked text, a directory) and the checks of the text settings: each parses and checks a
value the same way from a flag or a SYNCSERVER_* variable (settings.py holds the table)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..collections.declared import load_collections
from ..model.mutations import SPACE_PATTERN
from ..model.policies import PolicyTable
from .origins import parse_origins


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


def check_database(value: str) -> None:
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


def check_host(value: str) -> None:
    if not value or any(c.isspace() for c in value):
        raise ValueError("no address given")


def check_secret(value: str) -> None:
    if 0 < len(value) < 16:
        raise ValueError(f"{len(value)} characters is too short to sign cursors")


def check_policy(value: str) -> None:
    PolicyTable.parse(value, "", "")


def check_policies(value: str) -> None:
    PolicyTable.parse("merge", value, "")


def check_resolvers(value: str) -> None:
    PolicyTable.parse("merge", "", value)  # imports each function: a typo fails at start


def check_collections_file(value: str) -> None:
    if value:
        load_collections(value)  # every problem of the file, with its place, at start


def check_readable_file(value: str) -> None:
    if value == "":
        return
    if not os.path.exists(value):
        raise ValueError("no such file")
    if not os.path.isfile(value):
        raise ValueError("not a file")
    if not os.access(value, os.R_OK):
        raise ValueError("this user cannot read the file")


def check_csp(value: str) -> None:
    if not value.strip():
        raise ValueError("empty: give a policy, or `off` to send none")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("control characters cannot be sent in a header")


def check_origins(value: str) -> None:
    parse_origins(value)


# The policy pages (the demo, --static apps) are served with: everything from the page's
# own origin, images also as data: URLs, the API and its WebSocket on any ws:/wss: host
# (browsers differ on whether 'self' covers WebSocket URLs), and no framing, plugins,
# <base> or cross-origin form posts. The demo runs under it (tests/security).
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
               "img-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self'; "
               "manifest-src 'self'; object-src 'none'; base-uri 'self'; "
               "form-action 'self'; frame-ancestors 'none'")


MIN_SECRET = 32  # characters of an HS256 secret (RFC 7518: a key at least as long as the hash)


def check_jwt_secret(value: str) -> None:
    if 0 < len(value) < MIN_SECRET:
        raise ValueError(f"{len(value)} characters is too short for HS256: use at least "
                         f"{MIN_SECRET} random characters")


def check_jwks(value: str) -> None:
    if value and not value.startswith(("http://", "https://")) and not os.path.isfile(value):
        raise ValueError("neither an http(s) URL nor an existing file")


def check_claim_value(value: str) -> None:
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("spaces around it or control characters: a token's claim would "
                         "never match it")


def check_metrics_token(value: str) -> None:
    if value in ("", "off"):
        return
    if len(value) < 16:
        raise ValueError(f"{len(value)} characters is too short for a secret: use at least 16 "
                         "random characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("spaces or control characters cannot be sent in a header")


def check_vapid_key(value: str) -> None:
    """Empty, a PEM private key, or the base64url raw P-256 private key `syncserver vapid`
    prints (32 bytes); the key itself is parsed at start (webpush/vapid.py)."""
    if value == "" or value.lstrip().startswith("-----BEGIN"):
        return
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("neither a PEM key nor base64url") from None
    if len(raw) != 32:
        raise ValueError(f"{len(raw)} bytes: a raw P-256 private key is 32 bytes (make one "
                         "with `syncserver vapid`)")


def check_vapid_subject(value: str) -> None:
    """RFC 8292 `sub`: how a push service reaches the operator."""
    if value == "":
        return
    if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+|https://[^\s/]+(/\S*)?", value):
        raise ValueError("not a mailto: address or an https: URL")


MAX_NOTIFY_NEW = 20  # declared collections: every one in a nudge still fits a push payload
MAX_NOTIFY_TITLE = 100


def parse_notify_new(value: str) -> dict[str, str]:
    """`messages=New message,todos=New item` -> {collection: title}, in the order given
    (a tie in a nudge's counts goes to the one declared first)."""
    titles: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, title = item.partition("=")
        name, title = name.strip(), title.strip()
        if not sep or not name or not title:
            raise ValueError(f"expected collection=Title, got {item!r}")
        if SPACE_PATTERN.fullmatch(name) is None:
            raise ValueError(f"collection {name!r} must match {SPACE_PATTERN.pattern}")
        if name in titles:
            raise ValueError(f"collection {name!r} is declared twice")
        if len(title) > MAX_NOTIFY_TITLE:
            raise ValueError(f"the title of {name!r} is {len(title)} characters: at most "
                             f"{MAX_NOTIFY_TITLE}")
        if any(ord(c) < 32 or ord(c) == 127 for c in title):
            raise ValueError(f"the title of {name!r} holds control characters: plain text only")
        titles[name] = title
    if len(titles) > MAX_NOTIFY_NEW:
        raise ValueError(f"{len(titles)} collections: at most {MAX_NOTIFY_NEW}")
    return titles


def check_notify_new(value: str) -> None:
    parse_notify_new(value)
