"""GET /v1/spaces: what a client may follow, so that it need not know the claim syntax.

Auth on: the spaces the token's `spaces` claim grants, resolved (`user-{sub}` is a name
here), with their mode. Auth off: no grants to list, so the spaces the server holds (written
at least once), at most MAX_LISTED of them. Either way each with its head, read for all
listed spaces in one storage call.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..guard.permissions import MAX_GRANTS, Access
from ..storage.base import Storage

# Auth off: the most spaces listed, by name (`truncated` says there are more). A token names
# at most MAX_GRANTS, so both answers are of the same size at most.
MAX_LISTED = MAX_GRANTS


async def list_spaces(storage: Storage, access: Access | None) -> bytes:
    """The answer's body: {"sub", "spaces": [{"space", "mode", "head"}], "truncated"}."""
    if access is not None:
        names = sorted(access.grants)
        heads = await storage.heads(names) if names else {}
        listed = [_entry(name, access.grants[name], heads.get(name, 0)) for name in names]
        return orjson.dumps({"sub": access.sub, "spaces": listed, "truncated": False})
    written = await storage.written_spaces(MAX_LISTED + 1)
    listed = [_entry(name, "rw", head) for name, head in written.items()][:MAX_LISTED]
    return orjson.dumps({"sub": None, "spaces": listed,
                         "truncated": len(written) > MAX_LISTED})


def _entry(space: str, mode: str, head: int) -> dict[str, Any]:
    return {"space": space, "mode": mode, "head": head}
