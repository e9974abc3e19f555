"""The declared collections' role lists (--collections, collections/declared.py) against a
token's roles (permissions.py, `Access.roles_in`): who may create, update, delete and read
a collection's records. Checked on top of the space grant (rw to write, r to read), never
instead of it; a collection the file does not declare is as it was without roles.

- A write is a create (a put or patch of a record that does not exist or is a tombstone),
  an update (a put or patch of a live record) or a delete. It is allowed when the
  collection's list for that operation holds "*", one of the token's roles in the space,
  or "owner" and the record's owner (records.OWNER, its creator) is the token's `sub`.
- A read: a collection whose `read` holds "*" or one of the token's roles in the space is
  read whole; "owner" alone (none of the token's roles listed): only the reader's own
  records of it; otherwise none of it. `Roles.readable` is what the storage filters by, in
  SQL (storage/reading.py): None when nothing is hidden, so a server or a token that roles
  do not restrict reads with the statements it always did.

Everything a push asks per mutation is a dict lookup or two when the collection's writes are
open to everyone (`TokenRoles.denied`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..collections.declared import ANYONE, OWNER, CollectionSpec, Declared
from ..model.errors import ErrorCode, SyncError
from ..model.mutations import Mutation
from ..model.records import DELETED, Row
from ..model.records import OWNER as OWNER_COLUMN
from ..storage.reading import Readable
from .permissions import Access

WRITES = ("create", "update", "delete")
VIEWS_CACHED = 10_000  # role sets -> what they read, remembered (bounded: tokens choose them)


class Denied(NamedTuple):
    """A write the roles refuse: the result's message and its machine-readable parts."""

    collection: str
    operation: str  # create, update or delete
    allowed: tuple[str, ...]  # the roles that may
    message: str  # what was refused and which roles may; the caller says what follows


def operation_of(op: str, live: bool) -> str:
    """What a mutation (put, patch, delete) does to a record, live or not (none, or a
    tombstone)."""
    if op == "delete":
        return "delete"
    return "update" if live else "create"


def who_may(allowed: tuple[str, ...]) -> str:
    """The roles of a list, for a message: 'the role "editor"', 'one of the roles ...'."""
    names = [f'"{role}"' if role != OWNER else '"owner" (the record\'s creator)'
             for role in allowed]
    if len(names) == 1:
        return f"the role {names[0]}"
    return f"one of the roles {', '.join(names[:-1])} or {names[-1]}"


class Roles:
    """One server's declared role lists, ready for its tokens."""

    def __init__(self, declared: Declared) -> None:
        self.declared = declared
        # The collections whose writes, or reads, ask for more than the space grant.
        self.writes: dict[str, CollectionSpec] = {
            name: spec for name, spec in declared.collections.items()
            if any(spec.roles_for(op) != (ANYONE,) for op in WRITES)}
        self.reads: dict[str, tuple[str, ...]] = {
            name: spec.read for name, spec in declared.collections.items()
            if spec.read != (ANYONE,)}
        self._views: dict[frozenset[str], tuple[frozenset[str], frozenset[str]]] = {}

    def of(self, access: Access | None) -> TokenRoles | None:
        """What a push asks of this token's roles; None: nothing to ask (auth off, or no
        collection restricted)."""
        if access is None or not (self.writes or self.reads):
            return None
        return TokenRoles(self, access)

    def readable(self, access: Access | None, space: str) -> Readable | None:
        """What `access` may be sent of `space` (None: everything the space holds)."""
        if access is None or not self.reads:
            return None
        roles = access.roles_in(space)
        view = self._views.get(roles)
        if view is None:
            view = self._view(roles)
        hidden, owned = view
        if not hidden and not owned:
            return None
        return Readable(hidden, owned, access.sub if owned else "")

    def _view(self, roles: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        unread = [(name, read) for name, read in self.reads.items() if roles.isdisjoint(read)]
        view = (frozenset(name for name, read in unread if OWNER not in read),
                frozenset(name for name, read in unread if OWNER in read))
        if len(self._views) >= VIEWS_CACHED:
            self._views.clear()
        self._views[roles] = view
        return view

    def reading(self, access: Access | None, space: str,
                collections: list[str] | None) -> Readable | None:
        """`readable`, after refusing (403 forbidden, naming it) a `collections` filter that
        names a collection this token may read nothing of: a filter is the client's own
        choice, so it is told rather than sent an empty feed."""
        readable = self.readable(access, space)
        if readable is not None and collections:
            for name in collections:
                if name in readable.hidden:
                    raise self.unreadable(space, name)
        return readable

    def unreadable(self, space: str, collection: str) -> SyncError:
        return SyncError(
            ErrorCode.FORBIDDEN, f"this token may not read collection {collection!r} of space "
            f"{space!r}: reading it needs {who_may(self.reads[collection])} in "
            "that space; leave it out of `collections`", space=space, collection=collection)

    def denied(self, access: Access, space: str, collection: str, operation: str,
               owner: str | None) -> Denied | None:
        """Why `access` may not do `operation` to a record of `collection` in `space` whose
        owner is `owner` (None: it may)."""
        spec = self.writes.get(collection)
        if spec is None:
            return None
        allowed = spec.roles_for(operation)
        if ANYONE in allowed or not access.roles_in(space).isdisjoint(allowed):
            return None
        if OWNER in allowed and owner is not None and owner == access.sub:
            return None
        return Denied(collection, operation, allowed,
                      f"this token may not {operation} records of collection {collection!r} "
                      f"in space {space!r}: that needs {who_may(allowed)} in the space")


class TokenRoles:
    """One token's roles, for the mutations of one push (core/push.py)."""

    __slots__ = ("access", "roles", "sub", "writes", "_readable")

    def __init__(self, roles: Roles, access: Access) -> None:
        self.roles = roles
        self.access = access
        self.sub = access.sub
        self.writes = roles.writes
        self._readable: dict[str, Readable | None] = {}

    def denied(self, m: Mutation, row: Row | None) -> Denied | None:
        """Why the token may not apply `m` to the record as it is now (`row`; None: no such
        record); None: it may."""
        if m.collection not in self.writes:  # the push path: one lookup, nothing more
            return None
        if row is None:
            return self.roles.denied(self.access, m.space, m.collection,
                                     operation_of(m.op, False), None)
        return self.roles.denied(self.access, m.space, m.collection,
                                 operation_of(m.op, not row[DELETED]), row[OWNER_COLUMN])

    def may_read(self, space: str, collection: str, owner: str | None) -> bool:
        """Whether the token may be sent a record (the one a push result carries)."""
        if space in self._readable:
            readable = self._readable[space]
        else:
            readable = self._readable[space] = self.roles.readable(self.access, space)
        return readable is None or readable.admits(collection, owner)
