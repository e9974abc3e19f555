"""Custom resolvers that misbehave, registered by the hostile-payload tests (--resolvers):
app code the server runs but does not control."""

from __future__ import annotations

from typing import Any

from syncserver.model.policies import ConflictContext


def returns_a_set(ctx: ConflictContext) -> Any:
    return {"a", "b"}


def returns_an_object(ctx: ConflictContext) -> Any:
    return object()


def returns_a_set_inside(ctx: ConflictContext) -> Any:
    return {**(ctx.server or {}), "tags": {"a", "b"}}


def returns_a_huge_integer(ctx: ConflictContext) -> Any:
    return {**(ctx.server or {}), "n": 2**70}


class _Treacherous(dict):  # type: ignore[type-arg]
    """A dict that fails when the server reads it: a failure no check foresees."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise LookupError("treacherous resolver result")

    get = keys = items = values = __getitem__ = __iter__ = __contains__ = _fail


def returns_a_treacherous_dict(ctx: ConflictContext) -> Any:
    return _Treacherous(ctx.server or {})
