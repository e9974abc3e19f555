"""ws/lean.py: the queue and event every WebSocket connection holds behave as asyncio's do
where the outbox and uvicorn's protocol rely on it, and hold no container while idle."""

from __future__ import annotations

import asyncio

import pytest

from syncserver.transport.ws.lean import LeanEvent, LeanQueue


def test_items_in_order_a_bounded_put_waits_for_room_and_nothing_is_kept_idle():
    async def scenario() -> None:
        queue: LeanQueue[int] = LeanQueue(2)
        queue.put_nowait(1)
        queue.put_nowait(2)
        assert queue.full()
        with pytest.raises(asyncio.QueueFull):
            queue.put_nowait(3)
        waiting = [asyncio.create_task(queue.put(n)) for n in (3, 4)]
        await asyncio.sleep(0)
        assert not any(t.done() for t in waiting)
        got = [await queue.get() for _ in range(4)]
        await asyncio.gather(*waiting)
        assert got == [1, 2, 3, 4]
        assert queue.empty() and queue.qsize() == 0
        assert (queue._items, queue._getters, queue._putters) == (None, None, None)
        with pytest.raises(asyncio.QueueEmpty):
            queue.get_nowait()

    asyncio.run(scenario())


def test_a_getter_cancelled_after_its_wake_up_passes_the_item_on():
    async def scenario() -> None:
        queue: LeanQueue[str] = LeanQueue()
        first = asyncio.create_task(queue.get())
        second = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.put_nowait("x")  # wakes `first`
        first.cancel()
        assert await asyncio.wait_for(second, 1) == "x"
        assert first.cancelled()

    asyncio.run(scenario())


def test_the_event_wakes_every_waiter_and_keeps_no_list_when_idle():
    async def scenario() -> None:
        event = LeanEvent()
        waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        assert not event.is_set()
        event.set()
        assert await asyncio.gather(*waiters) == [True, True, True]
        assert event._waiters is None
        event.clear()
        cancelled = asyncio.create_task(event.wait())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert event._waiters is None

    asyncio.run(scenario())
