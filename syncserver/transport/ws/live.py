"""The devices connected here live: a WebSocket whose `hello` named a client id, by user
and client id. Web Push asks it whether a device follows a space here (webpush/nudges.py
`LiveDevices`): such a device gets the change as a frame, not as a nudge.

A connection counts once its `hello` is answered (auth on: for the token's user, so a
client id cannot silence another user's nudges), until it ends or a later `hello` names
another client id. Another instance's connections are not known here: a device connected
live to another instance may get a nudge too (harmless: its worker pulls nothing new).
"""

from __future__ import annotations

from typing import Any, Protocol


class Follows(Protocol):
    by_space: dict[str, Any]  # a connection's subscriptions (subscribe.py Subscriptions)


Device = tuple[str, str]  # (user, "" with auth off; client id)


class LiveClients:
    def __init__(self) -> None:
        self._devices: dict[Device, set[Follows]] = {}

    def join(self, device: Device, connection: Follows) -> None:
        self._devices.setdefault(device, set()).add(connection)

    def leave(self, device: Device, connection: Follows) -> None:
        connections = self._devices.get(device)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._devices[device]

    def follows(self, sub: str, client_id: str, space: str) -> bool:
        return any(space in c.by_space for c in self._devices.get((sub, client_id), ()))

    def __len__(self) -> int:
        return len(self._devices)
