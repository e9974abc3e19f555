"""The progress bar: elapsed time against ``--duration``, with the running counts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from load.glossary import NEW, REPLAYED
from load.memory import MemoryLog, describe
from load.periodic import periodically
from load.stats import Stats


@contextlib.asynccontextmanager
async def progress_bar(stats: Stats, duration: float, enabled: bool,
                       memory: MemoryLog | None = None) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    )
    task = progress.add_task("load", total=duration, info="")
    started = time.monotonic()

    def refresh() -> None:
        t = stats.totals
        # the report's words (load/glossary.py): new mutations are each write once,
        # replays are counted apart
        info = (
            f"new mutations {t[NEW]:,}  replayed {t[REPLAYED]:,}  "
            f"pulled {t['changes_pulled']:,}  ws {t['changes_delivered']:,}  "
            f"errors {sum(stats.errors.values()):,}"
            + describe(memory)  # the tool's and the server's resident memory now
        )
        progress.update(task, completed=min(time.monotonic() - started, duration), info=info)

    with progress:
        async with periodically(0.25, refresh):
            yield
