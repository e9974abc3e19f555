"""What a page of the feed reads of a space, on either backend: the client's `collections`
filter and what the reader's roles leave it (`Readable`, made by guard/roles.py), turned
into the shape of one statement (`Plan`) and its values.

A reader whose roles hide nothing has no Readable (None): its plan is the one a server
without declared collections runs, statement for statement. Otherwise the restriction is
in the statement, never applied to rows already read (a page is then full whatever the
hidden records are, and they never cost the page's byte budget):

- with a filter, each collection's range of the (space, collection, seq) index is read as
  before; the range of a collection the reader may only read its own records of adds
  `owner = sub` (a filter naming a hidden collection never gets here: 403, roles.py);
- without one (or past MERGED_RANGES_MAX names), the space's range in seq order, less the
  hidden collections (`collection NOT IN` the JSON array of them) and, in the owner-only
  ones, the records of others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

# A `collections` filter reads each collection's range of the (space, collection, seq)
# index, merged in seq order; past this many names (SYNCSERVER_MAX_FILTER_COLLECTIONS may
# allow more than its default of 100) a page reads the space's range and filters it: SQLite
# takes at most 500 arms of a UNION ALL, and planning a merge of hundreds of ranges costs
# more than it saves on either backend.
MERGED_RANGES_MAX = 100


@dataclass(frozen=True)
class Readable:
    """What a reader whose roles restrict it may be sent of one space: no record of the
    `hidden` collections, and of the `owned` ones only those whose owner is `sub`. Equal
    for readers alike (`sub` is "" when nothing is owned): they share a live frame."""

    hidden: frozenset[str] = frozenset()
    owned: frozenset[str] = frozenset()
    sub: str = ""

    def admits(self, collection: str, owner: str | None) -> bool:
        """Whether a record of `collection` owned by `owner` may be sent to this reader."""
        if collection in self.hidden:
            return False
        return collection not in self.owned or (owner is not None and owner == self.sub)


class Plan(NamedTuple):
    """The shape of a page's statement (what its SQL text depends on, so a cache key):
    `arms` index ranges of one collection each, the last `owned_arms` of them the reader's
    own records only; or, with no arms, the space's range filtered by a list of `names`,
    less the `hidden` collections, and the `owned` ones' records of others."""

    arms: int = 0
    owned_arms: int = 0
    names: bool = False
    hidden: bool = False
    owned: bool = False


class Reading(NamedTuple):
    """A plan and the values it binds: the arms' collections in order (owned last), the
    lists of names, hidden and owned collections it filters by, and the reader's sub."""

    plan: Plan
    arms: list[str]
    names: list[str]
    hidden: list[str]
    owned: list[str]
    sub: str


def reading(collections: list[str] | None, readable: Readable | None) -> Reading:
    """The plan of a page for a `collections` filter (None: the whole space) and what the
    reader may read (None: everything)."""
    names = collections or []
    if readable is not None and not readable.hidden.isdisjoint(names):
        # guard/roles.py answers such a filter 403 before any read: never read it here
        raise ValueError("a collections filter names a collection hidden from its reader")
    merged = 0 < len(names) <= MERGED_RANGES_MAX
    if readable is None:
        if merged:
            return Reading(Plan(arms=len(names)), names, [], [], [], "")
        return Reading(Plan(names=bool(names)), [], names, [], [], "")
    owned = sorted(readable.owned.intersection(names) if names else readable.owned)
    if merged:
        plain = [name for name in names if name not in readable.owned]
        return Reading(Plan(arms=len(names), owned_arms=len(owned)), plain + owned, [], [],
                       [], readable.sub)
    hidden = [] if names else sorted(readable.hidden)  # a filter names none of them
    return Reading(Plan(names=bool(names), hidden=bool(hidden), owned=bool(owned)), [],
                   names, hidden, owned, readable.sub)


class Dialect(NamedTuple):
    """How a backend writes a list of names bound as one value."""

    member: str  # "{} IN ...": the column is one of the list's names
    outsider: str  # the column is none of them
    mark: str  # a bound value's placeholder
    names: Callable[[list[str]], object]  # the list as the value bound


def conflicts_restriction(restricted: dict[str, Readable], dialect: Dialect
                          ) -> tuple[str, list[object]]:
    """The condition (and its values) a conflict listing adds for the spaces whose reader's
    roles restrict it: there, no conflict of a hidden collection, and in an owner-only one
    only those of the reader's own records. Spaces alike are one arm (usually there is one:
    roles given in every space)."""
    groups: dict[Readable, list[str]] = {}
    for space, readable in sorted(restricted.items()):
        groups.setdefault(readable, []).append(space)
    arms = [dialect.outsider.format("space")]
    values: list[object] = [dialect.names(sorted(restricted))]
    for spaces, readable in ((spaces, readable) for readable, spaces in groups.items()):
        arm = dialect.member.format("space")
        values.append(dialect.names(spaces))
        if readable.hidden:
            arm += " AND " + dialect.outsider.format("collection")
            values.append(dialect.names(sorted(readable.hidden)))
        if readable.owned:
            arm += (f" AND ({dialect.outsider.format('collection')} OR EXISTS (SELECT 1 FROM "
                    "records r WHERE r.space = conflicts.space AND r.collection = "
                    "conflicts.collection AND r.id = conflicts.record_id AND r.owner = "
                    f"{dialect.mark}))")
            values += [dialect.names(sorted(readable.owned)), readable.sub]
        arms.append(f"({arm})")
    return f"({' OR '.join(arms)})", values
