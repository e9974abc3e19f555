"""What a verified token grants: its user (`sub`), the spaces it may read or write, and its
roles in them.

The `spaces` claim maps a space name, or a pattern with `{sub}`, to "r" or "rw":

    {"sub": "alice", "spaces": {"team-1": "r", "user-{sub}": "rw"}}

grants alice read access to `team-1` and read-write access to `user-alice`. `{sub}` is the
only substitution: a pattern names exactly one space per user, never a range, so it can
never match another user's space. A `sub` that is not a valid space name part (it would make
a name outside the space pattern) gets nothing from the patterns that use it.

The `roles` claim names the token's roles, which the declared collections' role lists
(--collections, guard/roles.py) check on top of the space grant, never instead of it:
either a list, the roles in every space the token grants, or an object whose keys are
named as `spaces`' are (a space, a pattern with `{sub}`) or "*" (every space it grants):

    {"sub": "alice", "spaces": {"team-1": "rw"}, "roles": {"team-1": ["editor"], "*": ["member"]}}

Everything resolves once, when the token is verified, to dicts of exact space names: a
permission check on the push path is one dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN

RIGHTS = ("r", "rw")
MAX_GRANTS = 1000  # spaces named by one token: the conflict listing filters by them in SQL
MAX_ROLES = 100  # roles read from one entry of the `roles` claim
MAX_ROLE_LENGTH = 128
EVERY_SPACE = "*"  # a `roles` key: the roles in every space the token grants
# Role names the collections file gives a meaning of its own ("*": anyone the space
# grants, "owner": a record's creator, collections/declared.py): a token that claims them
# gets nothing from it, or "owner" would make its bearer the owner of every record.
RESERVED_ROLES = frozenset({"*", "owner"})
NO_ROLES: frozenset[str] = frozenset()


@dataclass
class Access:
    sub: str
    expires_at: float  # seconds since the epoch
    grants: dict[str, str] = field(default_factory=dict)  # space -> "r" | "rw"
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # space -> its own roles
    every: frozenset[str] = NO_ROLES  # the roles in every space granted

    def roles_in(self, space: str) -> frozenset[str]:
        """The token's roles in `space` (none in a space it does not grant)."""
        if space not in self.grants:
            return NO_ROLES
        own = self.roles.get(space)
        return self.every if own is None else own

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


def space_named(name: object, sub: str) -> str | None:
    """The space a claim's key names (`{sub}` substituted), or None: not a space name."""
    if not isinstance(name, str):
        return None
    if "{" in name or "}" in name:
        rest = name.replace("{sub}", "")
        if "{" in rest or "}" in rest or SPACE_PATTERN.fullmatch(sub) is None:
            return None  # an unknown placeholder, or a sub that is no part of a space name
        name = name.replace("{sub}", sub)
    return name if SPACE_PATTERN.fullmatch(name) is not None else None


def grants_of(sub: str, claim: Any) -> dict[str, str]:
    """The `spaces` claim -> {space: right}. Malformed entries grant nothing (a token is
    not refused for them: the issuer may add claims this server does not know)."""
    grants: dict[str, str] = {}
    if not isinstance(claim, dict):
        return grants
    for key, right in list(claim.items())[:MAX_GRANTS]:
        name = space_named(key, sub)
        if name is None or right not in RIGHTS:
            continue
        if grants.get(name) != "rw":  # the widest right wins when two entries name a space
            grants[name] = right
    return grants


def role_names(value: Any) -> frozenset[str]:
    """A list of role names -> the set; what is not a role name (not a string, empty,
    longer than MAX_ROLE_LENGTH, reserved) is left out, and a value that is no list gives
    none. At most MAX_ROLES are read."""
    if not isinstance(value, list):
        return NO_ROLES
    return frozenset(role for role in value[:MAX_ROLES]
                     if isinstance(role, str) and 0 < len(role) <= MAX_ROLE_LENGTH
                     and role not in RESERVED_ROLES)


def roles_of(sub: str, claim: Any) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """The `roles` claim -> ({space: its roles}, the roles in every space). A space named
    by its own entry has those and the "*" entry's; entries that are malformed give
    nothing; when two entries name one space, it has the roles of both."""
    if isinstance(claim, list):
        return {}, role_names(claim)
    if not isinstance(claim, dict):
        return {}, NO_ROLES
    every = NO_ROLES
    named: dict[str, frozenset[str]] = {}
    for key, value in list(claim.items())[:MAX_GRANTS]:
        if key == EVERY_SPACE:
            every = role_names(value)
            continue
        name = space_named(key, sub)
        roles = role_names(value)
        if name is not None and roles:
            named[name] = named.get(name, NO_ROLES) | roles
    return {space: roles | every for space, roles in named.items()}, every


def access_of(claims: dict[str, Any]) -> Access:
    sub = claims["sub"]
    roles, every = roles_of(sub, claims.get("roles"))
    return Access(sub, float(claims["exp"]), grants_of(sub, claims.get("spaces")), roles,
                  every)
