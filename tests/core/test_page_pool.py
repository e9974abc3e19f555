"""The page pool (limits.PagePool): pages never hold more than its capacity together,
waiters are served in order, each when its room is there, and a waiter that gives up
(a pull's 10 s, a closed connection) leaves nothing taken."""

from __future__ import annotations

import asyncio

from syncserver.guard.limits import PagePool


def test_pages_wait_in_order_for_room_and_shrink_to_what_is_free() -> None:
    async def scenario() -> None:
        pool = PagePool(capacity=100, least=30)
        assert await pool.take(80) == 80
        first = asyncio.create_task(pool.take(50))
        second = asyncio.create_task(pool.take(10))
        await asyncio.sleep(0)  # one turn of the loop: both tasks run up to their wait
        assert not first.done() and not second.done(), "the small one waits its turn"
        assert pool.try_take(5) is None, "no jumping the queue either"
        pool.give_back(50)  # 70 free: the first gets 50, the second 10
        await asyncio.sleep(0)  # one turn: the woken tasks finish
        assert (first.result(), second.result()) == (50, 10)
        assert pool.used == 90
        # Less than a page is free but room for the largest change: a smaller page.
        pool.give_back(50)
        assert await pool.take(100) == 60
        assert pool.used == 100

    asyncio.run(scenario())


def test_a_waiter_that_gives_up_takes_nothing() -> None:
    async def scenario() -> None:
        pool = PagePool(capacity=100, least=30)
        await pool.take(100)
        with_deadline = asyncio.create_task(asyncio.wait_for(pool.take(40), 0.05))
        behind = asyncio.create_task(pool.take(20))
        try:
            await with_deadline
        except TimeoutError:
            pass
        else:
            raise AssertionError("took room that was never given back")
        pool.give_back(100)
        assert await behind == 20, "the one behind it is served"
        assert pool.used == 20

    asyncio.run(scenario())
