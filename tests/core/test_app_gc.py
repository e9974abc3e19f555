"""The process's garbage collector is the `serve` command's to tune (ops/cli.py tune_gc),
never the app's: a program that runs the app itself (its own ASGI server, its tests) keeps
its collector as it set it."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from syncserver.config.settings import Settings
from syncserver.ops.app import create_app


def test_the_app_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    kept = gc.get_threshold()
    gc.set_threshold(1_234, 11, 12)  # none of ours: a change cannot go unseen
    frozen = gc.get_freeze_count()
    app = create_app(Settings(db=str(tmp_path / "gc.db"), demo=False, auth="none"))

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            assert app.state.service.storage.kind == "sqlite"  # started

    try:
        asyncio.run(start_and_stop())
        assert gc.get_threshold() == (1_234, 11, 12)
        assert gc.get_freeze_count() == frozen
        assert gc.isenabled()
    finally:
        gc.set_threshold(*kept)
        if gc.get_freeze_count() != frozen:
            gc.unfreeze()
