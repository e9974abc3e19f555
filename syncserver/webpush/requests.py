"""The bodies of the Web Push endpoints, checked whole before anything is stored or sent:
a registration (POST /v1/webpush/subscriptions) and an app notification (POST /v1/notify).
Each refusal is a 400 invalid_request naming its field (403 forbidden for a space the
token does not grant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from ..guard.permissions import MAX_GRANTS, Access
from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN, valid_client_id
from .endpoints import check_endpoint
from .vapid import b64url_decode

MAX_KEY_TEXT = 200  # characters of a base64url key (p256dh is 87, auth 22)
MAX_TITLE = 200
MAX_BODY = 1000
MAX_URL = 1000
MAX_TAG = 64
MAX_PAYLOAD = 3_000  # bytes of a notification's JSON: a push message carries about 4 KB


def invalid(detail: str, name: str) -> SyncError:
    return SyncError(ErrorCode.INVALID_REQUEST, detail, field=name)


@dataclass(frozen=True)
class Registration:
    client_id: str
    endpoint: str
    p256dh: str
    auth: str
    spaces: tuple[str, ...]


def _object(body: object, example: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SyncError(ErrorCode.INVALID_REQUEST, f"the body must be a JSON object: {example}")
    return body


def client_id_of(value: object) -> str:
    if not valid_client_id(value):
        raise invalid("client_id must be a string matching ^[A-Za-z0-9_.:-]{1,128}$",
                      "client_id")
    assert isinstance(value, str)
    return value


def _key(keys: dict[str, Any], name: str, size: int) -> str:
    value = keys.get(name)
    field = f"subscription.keys.{name}"
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_TEXT:
        raise invalid(f"{field} must be a base64url string", field)
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise invalid(f"{field} is not base64url", field) from None
    if len(raw) != size:
        raise invalid(f"{field} must be {size} bytes, not {len(raw)}", field)
    if name == "p256dh":
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise invalid(f"{field} is not a P-256 public key", field) from None
    return value


def resolve_space(name: object, access: Access | None, field: str) -> str:
    """A space name as the client wrote it (`user-{sub}` too) -> the name, checked."""
    if not isinstance(name, str):
        raise invalid(f"{field} must hold space names", field)
    if "{sub}" in name and access is not None:
        name = name.replace("{sub}", access.sub)
    if SPACE_PATTERN.fullmatch(name) is None:
        raise invalid(f"bad space name {name[:80]!r}: a space matches "
                      f"{SPACE_PATTERN.pattern}", field)
    return name


def parse_registration(body: object, access: Access | None,
                       allow_loopback: bool) -> Registration:
    body = _object(body, '{"client_id", "subscription": {"endpoint", "keys"}, "spaces"}')
    client_id = client_id_of(body.get("client_id"))
    subscription = body.get("subscription")
    if not isinstance(subscription, dict):
        raise invalid("subscription must be the browser's PushSubscription.toJSON()",
                      "subscription")
    endpoint = check_endpoint(subscription.get("endpoint"), allow_loopback)
    keys = subscription.get("keys")
    if not isinstance(keys, dict):
        raise invalid("subscription.keys must be an object with p256dh and auth",
                      "subscription.keys")
    p256dh, auth = _key(keys, "p256dh", 65), _key(keys, "auth", 16)
    raw = body.get("spaces")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_GRANTS:
        raise invalid(f"spaces must be a list of 1 to {MAX_GRANTS} space names", "spaces")
    spaces = sorted({resolve_space(name, access, "spaces") for name in raw})
    if access is not None:
        for space in spaces:
            access.require_read(space)
    return Registration(client_id, endpoint, p256dh, auth, tuple(spaces))


@dataclass(frozen=True)
class Notification:
    space: str
    payload: dict[str, Any]  # {"type": "notify", "space", "title", "body", "url", "tag"}
    client_id: str | None  # auth off: the sender's device, not notified


def _text(body: dict[str, Any], name: str, most: int, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > most:
        raise invalid(f"{name} must be a {'non-empty ' if required else ''}string of at most "
                      f"{most} characters", name)
    return value


def parse_notification(body: object, access: Access | None) -> Notification:
    body = _object(body, '{"space", "title", "body", "url", "tag"}')
    space = resolve_space(body.get("space"), access, "space")
    title = _text(body, "title", MAX_TITLE, True)
    text = _text(body, "body", MAX_BODY, False)
    url = _text(body, "url", MAX_URL, False)
    if url and (not url.startswith("/") or url.startswith("//") or "\\" in url):
        raise invalid("url must be a path of this app, starting with / (not //)", "url")
    tag = _text(body, "tag", MAX_TAG, False)
    client_id = body.get("client_id")
    if client_id is not None:
        client_id = client_id_of(client_id)
    if access is not None:
        access.require_write(space)
    payload = {"type": "notify", "space": space, "title": title, "body": text, "url": url,
               "tag": tag}
    if len(orjson.dumps(payload)) > MAX_PAYLOAD:
        raise invalid(f"the notification is over {MAX_PAYLOAD} bytes of JSON (a push "
                      "message holds about 4 KB): shorten title and body", "body")
    return Notification(space, payload, client_id)
