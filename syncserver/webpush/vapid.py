"""The VAPID key (RFC 8292) that signs every push: from --webpush-vapid-key (or its file)
in production, or, in dev mode, derived from a random secret generated once and kept in
the database (like the dev token secret), so that subscriptions survive a restart.

The signing itself is py_vapid's (a dependency of pywebpush); a signed header is kept per
push service origin until an hour before its `exp`, so that a burst of nudges signs once.
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from ..config.settings import Settings
from ..storage.base import Storage

DEV_SECRET_NAME = "webpush_vapid_secret"
DEV_SUBJECT = "mailto:syncserver@localhost"
LIFETIME_S = 12 * 3600  # a token's exp (RFC 8292: at most 24 hours ahead)
RENEW_BEFORE_S = 3600
# The order of P-256: a private scalar is in [1, N - 1].
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A PEM private key, or the base64url raw private scalar (`syncserver vapid`)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or \
                not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the VAPID key must be a P-256 (prime256v1) EC key")
        return key
    return ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"), ec.SECP256R1())


def from_secret(secret: bytes) -> ec.EllipticCurvePrivateKey:
    """A key from random bytes (dev mode's stored secret), in [1, N - 1]."""
    return ec.derive_private_key(int.from_bytes(secret, "big") % (P256_N - 1) + 1,
                                 ec.SECP256R1())


def generate() -> tuple[str, str]:
    """A new key pair: (private key, public key), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big")), public_key(key)


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as browsers take it (applicationServerKey): the uncompressed point,
    65 bytes, base64url."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


async def load(settings: Settings, storage: Storage) -> VapidKey | None:
    """The configured key (None: Web Push is off)."""
    if settings.webpush_vapid_key_file:
        with open(settings.webpush_vapid_key_file) as f:  # noqa: ASYNC230 (once, at start)
            text = f.read()
        return VapidKey(parse_key(text), settings.webpush_subject)
    if settings.webpush_vapid_key:
        return VapidKey(parse_key(settings.webpush_vapid_key), settings.webpush_subject)
    if settings.dev:
        key = from_secret(await storage.secret(DEV_SECRET_NAME))
        return VapidKey(key, settings.webpush_subject or DEV_SUBJECT)
    return None


class VapidKey:
    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self.vapid = Vapid02(private_key=key)
        self.subject = subject
        self.public_key = public_key(key)
        self._signed: dict[str, tuple[str, float]] = {}  # origin -> (header, exp)

    def authorization(self, origin: str) -> str:
        """The `Authorization: vapid t=<JWT>,k=<public key>` header for a push service."""
        now = time.time()
        kept = self._signed.get(origin)
        if kept is not None and kept[1] - RENEW_BEFORE_S > now:
            return kept[0]
        exp = int(now) + LIFETIME_S
        header = str(self.vapid.sign({"aud": origin, "exp": exp, "sub": self.subject})
                     ["Authorization"])
        if len(self._signed) > 10_000:  # push services are few; a bound all the same
            self._signed.clear()
        self._signed[origin] = (header, exp)
        return header
