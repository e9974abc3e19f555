"""What a verified token grants: its user (`sub`) and the spaces it may read or write.

The `spaces` claim maps a space name, or a pattern with `{sub}`, to "r" or "rw":

    {"sub": "alice", "spaces": {"team-1": "r", "user-{sub}": "rw"}}

grants alice read access to `team-1` and read-write access to `user-alice`. `{sub}` is the
only substitution: a pattern names exactly one space per user, never a range, so it can
never match another user's space. A `sub` that is not a valid space name part (it would make
a name outside the space pattern) gets nothing from the patterns that use it.

Everything resolves once, when the token is verified, to a dict of exact space names: a
permission check on the push path is one dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN

RIGHTS = ("r", "rw")
MAX_GRANTS = 1000  # spaces named by one token: the conflict listing filters by them in SQL


@dataclass
class Access:
    sub: str
    expires_at: float  # seconds since the epoch
    grants: dict[str, str] = field(default_factory=dict)  # space -> "r" | "rw"

    def can_read(self, space: str) -> bool:
        return space in self.grants

    def can_write(self, space: str) -> bool:
        return self.grants.get(space) == "rw"

    def readable(self) -> list[str]:
        return sorted(self.grants)

    def require_read(self, space: str) -> None:
        if space not in self.grants:
            raise forbidden_space(space)

    def require_write(self, space: str) -> None:
        if self.grants.get(space) != "rw":
            raise forbidden_space(space, write=True)


def forbidden_space(space: str, write: bool = False) -> SyncError:
    what = "write to" if write else "read"
    return SyncError(ErrorCode.FORBIDDEN, f"this token may not {what} space {space!r}",
                     space=space)


def grants_of(sub: str, claim: Any) -> dict[str, str]:
    """The `spaces` claim -> {space: right}. Malformed entries grant nothing (a token is
    not refused for them: the issuer may add claims this server does not know)."""
    grants: dict[str, str] = {}
    if not isinstance(claim, dict):
        return grants
    for name, right in list(claim.items())[:MAX_GRANTS]:
        if not isinstance(name, str) or right not in RIGHTS:
            continue
        if "{" in name or "}" in name:
            rest = name.replace("{sub}", "")
            if "{" in rest or "}" in rest or SPACE_PATTERN.fullmatch(sub) is None:
                continue  # an unknown placeholder, or a sub that is no part of a space name
            name = name.replace("{sub}", sub)
        if SPACE_PATTERN.fullmatch(name) is None:
            continue
        if grants.get(name) != "rw":  # the widest right wins when two entries name a space
            grants[name] = right
    return grants


def access_of(claims: dict[str, Any]) -> Access:
    sub = claims["sub"]
    return Access(sub, float(claims["exp"]), grants_of(sub, claims.get("spaces")))
