"""The Notifier's record of what each served space was published or read up to (the
fan-out's periodic check compares it with the database): kept only while the space is
served, so long-polls and subscriptions of ever new spaces leave nothing behind."""

from __future__ import annotations

import asyncio

from syncserver.notifier import Notifier


def test_heads_are_kept_only_while_a_space_is_served() -> None:
    async def main() -> None:
        n = Notifier()
        n.saw("s1", 5)
        n.publish("s1", 5, 6, [])
        assert n.head("s1") is None and n.served() == []  # nobody serves it: nothing kept

        def listener(p: object) -> None:
            pass

        n.listen("s1", listener)
        n.saw("s1", 3)
        n.saw("s1", 2)  # an older read does not move it back
        assert n.head("s1") == 3
        n.publish("s1", 3, 7, [])
        assert n.head("s1") == 7
        n.unlisten("s1", listener)
        assert n.head("s1") is None

        event = n.next_publish("s2")  # a long-poll
        n.saw("s2", 4)
        assert n.served() == ["s2"] and n.head("s2") == 4
        n.done("s2", event)
        assert n.head("s2") is None and n.served() == []

        event = n.next_publish("s3")
        n.saw("s3", 1)
        n.publish("s3", 1, 2, [])  # wakes the long-poll, which reads again
        assert event.is_set() and n.head("s3") is None
        n.done("s3", event)
        assert n._heads == {} and n._events == {} and n._listeners == {}

    asyncio.run(main())
