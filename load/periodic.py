"""A call repeated in the background while a block runs (memory samples, heap freezes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


@contextlib.asynccontextmanager
async def periodically(seconds: float, tick: Callable[[], object]) -> AsyncIterator[None]:
    """Call ``tick`` now and then every ``seconds`` until the block ends."""

    async def loop() -> None:
        while True:
            tick()
            await asyncio.sleep(seconds)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
