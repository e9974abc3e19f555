"""`WebPush`: one server's Web Push, from its settings: the VAPID key, the subscriptions,
the sync nudges after each commit and the app's notifications (POST /v1/notify).

Off (every endpoint answers 404 webpush_disabled, nothing is started) unless a VAPID key
is configured or the server runs in dev mode (settings.webpush).
"""

from __future__ import annotations

import time

import orjson

from ..config.metrics import Metrics
from ..config.settings import Settings
from ..core.notifier import Notifier
from ..guard.permissions import Access
from ..guard.ratelimit import RateLimiter
from ..model.errors import ErrorCode, SyncError
from ..storage import push_subscriptions
from ..storage.base import Storage
from ..storage.push_subscriptions import PushSubscriptionRow
from . import vapid
from .index import SpaceIndex
from .nudges import LiveDevices, Nudger
from .requests import client_id_of, parse_notification, parse_registration
from .sender import Push, Sender, topic

NOTIFY_URGENCY = "high"  # the app chose to tell its user something now


class WebPush:
    def __init__(self, settings: Settings, storage: Storage, metrics: Metrics,
                 notifier: Notifier, live: LiveDevices) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = metrics
        self.notifier = notifier
        self.live = live
        self.enabled = settings.webpush
        self.key: vapid.VapidKey | None = None
        self.index = SpaceIndex(storage, metrics, settings.fanout_catchup_interval)
        self.sender: Sender | None = None
        self.nudger: Nudger | None = None
        rate = settings.webpush_notify_rate
        self.notify_rate = RateLimiter(rate / 60.0, max(1, int(rate)))

    async def start(self) -> None:
        if not self.enabled:
            return
        self.key = await vapid.load(self.settings, self.storage)
        assert self.key is not None
        await self.index.load()
        self.index.start()
        settings = self.settings
        self.sender = Sender(self.key, self.metrics, settings.webpush_queue,
                             settings.webpush_senders, settings.webpush_allow_loopback,
                             self._gone)
        self.sender.start()
        self.nudger = Nudger(self.storage, self.index, self.live, self.sender, self.metrics,
                             settings.webpush_min_interval, settings.webpush_ttl,
                             settings.notify_new)
        self.nudger.start()
        self.notifier.on_commit(self.nudger.committed)

    async def stop(self) -> None:
        if self.nudger is not None:
            await self.nudger.stop()
        if self.sender is not None:
            await self.sender.stop()
        await self.index.stop()

    def _require(self) -> tuple[vapid.VapidKey, Sender]:
        if self.key is None or self.sender is None:
            raise SyncError(ErrorCode.WEBPUSH_DISABLED,
                            "Web Push is not configured on this server (set "
                            "SYNCSERVER_WEBPUSH_VAPID_KEY and SYNCSERVER_WEBPUSH_SUBJECT; "
                            "docs/deployment.md)")
        return self.key, self.sender

    def public_key(self) -> str:
        return self._require()[0].public_key

    async def register(self, body: object, access: Access | None) -> dict[str, object]:
        """POST /v1/webpush/subscriptions: the device's subscription, replacing the one it
        had; the answer names the spaces it follows, resolved."""
        self._require()
        registration = parse_registration(body, access, self.settings.webpush_allow_loopback)
        now = int(time.time() * 1000)
        row = PushSubscriptionRow(access.sub if access is not None else "",
                                  registration.client_id, registration.endpoint,
                                  registration.p256dh, registration.auth,
                                  registration.spaces, now, now)
        outcome = await self.storage.save_push_subscription(
            row, self.settings.webpush_max_subscriptions)
        if outcome == push_subscriptions.NOT_YOURS:
            raise SyncError(ErrorCode.FORBIDDEN, "this client id belongs to another user",
                            field="client_id")
        if outcome == push_subscriptions.FULL:
            raise SyncError(ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                            f"this user holds {self.settings.webpush_max_subscriptions} push "
                            "subscriptions, the most allowed "
                            "(SYNCSERVER_WEBPUSH_MAX_SUBSCRIPTIONS): delete one first",
                            field="client_id")
        self.index.add(registration.spaces)
        return {"client_id": registration.client_id, "spaces": list(registration.spaces)}

    async def unregister(self, client_id: object, access: Access | None) -> None:
        """DELETE /v1/webpush/subscriptions?client_id=...: done also when there was none."""
        self._require()
        await self.storage.delete_push_subscription(
            access.sub if access is not None else "", client_id_of(client_id))

    async def notify(self, body: object, access: Access | None) -> int:
        """POST /v1/notify: the notification queued for the devices subscribed to its
        space, except the sender's own (auth on: every device of the sender's user; auth
        off: the `client_id` the body names, if any). The number of devices."""
        _key, sender = self._require()
        notification = parse_notification(body, access)
        if access is not None:
            try:
                self.notify_rate.take(access.sub)
            except SyncError as exc:
                raise SyncError(ErrorCode.RATE_LIMITED,
                                f"this user sent more than {self.settings.webpush_notify_rate:g}"
                                " notifications a minute (SYNCSERVER_WEBPUSH_NOTIFY_RATE): "
                                "nothing was sent", **exc.extra) from None
        payload = orjson.dumps(notification.payload)
        tag = notification.payload["tag"]
        devices = 0
        for subscription in await self.storage.push_subscriptions(notification.space):
            if access is not None and subscription.sub == access.sub:
                continue
            if access is None and subscription.client_id == notification.client_id:
                continue
            sender.enqueue(Push(subscription, payload, "notify", NOTIFY_URGENCY,
                                self.settings.webpush_ttl,
                                topic("notify", notification.space, tag) if tag else None))
            devices += 1
        return devices

    async def _gone(self, subscription: PushSubscriptionRow) -> None:
        """Its push service says the subscription is no more (404, 410)."""
        await self.storage.delete_push_subscription(subscription.sub, subscription.client_id,
                                                    subscription.endpoint)
