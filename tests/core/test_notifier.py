"""The Notifier's record of the highest position published in each served space (the
fan-out's periodic check compares it with the database): kept while the space is served,
and pruned once it is not, so long-polls and subscriptions of ever new spaces leave nothing
behind. A reader's own reads never move it: another listener may not have been told."""

from __future__ import annotations

import asyncio

from syncserver.core.notifier import Notifier


def test_heads_are_kept_only_while_a_space_is_served() -> None:
    async def main() -> None:
        n = Notifier()
        n.publish("s1", 5, 6, [])
        assert n.head("s1") is None and n.served() == []  # nobody serves it: nothing kept

        def listener(p: object) -> None:
            pass

        n.listen("s1", listener)
        assert n.head("s1") is None
        n.publish("s1", 6, 7, [])
        n.publish("s1", 3, 4, [])  # an older range does not move it back
        assert n.head("s1") == 7
        n.unlisten("s1", listener)
        assert n.head("s1") is None

        event = n.next_publish("s2")  # a long-poll
        n.publish("s2", 0, 4, [])
        assert event.is_set() and n.head("s2") == 4  # kept for the long-poll's next wait
        again = n.next_publish("s2")
        assert n.served() == ["s2"] and n.head("s2") == 4
        n.done("s2", again)
        n.done("s2", event)
        n.prune()
        assert n._heads == {} and n._events == {} and n._listeners == {}

    asyncio.run(main())
