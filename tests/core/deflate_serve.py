"""`python tests/core/deflate_serve.py serve ...`: `syncserver serve` with per-message
deflate offered, as a plain uvicorn run of the app would (serve turns it off). For the test
that a connection which negotiated compression still gets its live frames (through the
ASGI send, compressed), not the shared uncompressed bytes."""

from __future__ import annotations

import functools
from typing import Any

import uvicorn

from syncserver.ops.cli import main

_config_init = uvicorn.Config.__init__


@functools.wraps(_config_init)
def _deflating(self: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
    kwargs["ws_per_message_deflate"] = True
    _config_init(self, *args, **kwargs)


uvicorn.Config.__init__ = _deflating  # type: ignore[method-assign]
main()
