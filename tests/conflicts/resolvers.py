"""Custom resolvers the policy tests register with the server (--resolvers)."""

from __future__ import annotations

from typing import Any

from syncserver.model.policies import ConflictContext


def longest_title(ctx: ConflictContext) -> dict[str, Any] | None:
    """Keep the longer title; the server's other fields stay."""
    server = ctx.server or {}
    client = ctx.client_data or {}
    title = max(str(server.get("title", "")), str(client.get("title", "")), key=len)
    return {**server, "title": title}


def explode(ctx: ConflictContext) -> dict[str, Any] | None:
    raise RuntimeError("resolver bug")


def empty_record(ctx: ConflictContext) -> dict[str, Any] | None:
    """Settle on a record with no fields: a valid result, not "no opinion"."""
    return {}
