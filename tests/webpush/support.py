"""The Web Push tests' server: auth on (HS256 tokens minted here), a VAPID key from the
settings as in production, push endpoints on this machine allowed."""

from __future__ import annotations

from typing import Any

import httpx

from syncserver.guard.tokens import mint
from syncserver.webpush.vapid import generate
from tests.helpers import mutation, stamped_by

SECRET = "webpush-tests-secret-of-at-least-32-characters"
SUBJECT = "mailto:ops@example.com"


def env(min_interval: float = 0, **more: str) -> dict[str, str]:
    private, _public = generate()
    return {"SYNCSERVER_JWT_SECRET": SECRET, "SYNCSERVER_WEBPUSH_VAPID_KEY": private,
            "SYNCSERVER_WEBPUSH_SUBJECT": SUBJECT, "SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK": "1",
            "SYNCSERVER_WEBPUSH_MIN_INTERVAL": str(min_interval), **more}


def token(sub: str, spaces: dict[str, str] | None = None) -> str:
    return mint(SECRET, sub, spaces or {"team": "rw", "user-{sub}": "rw"}, 3600)


def client(url: str, sub: str, spaces: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30,
                        headers={"authorization": f"Bearer {token(sub, spaces)}"})


def register(http: httpx.Client, client_id: str, subscription: dict[str, Any],
             spaces: list[str]) -> httpx.Response:
    return http.post("/v1/webpush/subscriptions", json={
        "client_id": client_id, "subscription": subscription, "spaces": spaces})


def write(http: httpx.Client, client_id: str, mid: int, space: str = "team") -> int:
    """One put in `space` by `client_id`: the space's head after it."""
    batch = stamped_by(client_id, [mutation(mid, f"r{mid}", space=space, node=client_id)])
    response = http.post("/v1/push", json={"client_id": client_id, "mutations": batch})
    assert response.status_code == 200, response.text
    return int(response.json()["results"][0]["seq"])
