"""Pushes on their way out: a bounded queue and a few sender tasks, off the request path.

Each push is encrypted for its subscription (aes128gcm, RFC 8291: pywebpush's
`WebPusher.encode`, in a worker thread: an ECDH and a key derivation per push), signed
with the VAPID key (vapid.py) and POSTed to its endpoint (RFC 8030) with `TTL`, `Urgency`
and `Topic`. A push with a topic (a sync nudge: one per device and space) that is still
waiting replaces its payload in place instead of queueing twice, as the push service does
with the `Topic` header for one it holds.

The answers: 2xx sent; 404 or 410 the subscription is gone (deleted here, unless it was
registered again meanwhile); 429 and 5xx, or no answer, retried up to RETRIES times after
the push service's Retry-After (seconds or an HTTP date; at most MAX_RETRY_AFTER_S) or a
jittered doubling backoff; any other answer is a failure, logged.

The queue holds at most --webpush-queue pushes, those waiting for a retry included. The
nudges of a change wait for room while the senders take pushes out (`room`: the nudger
runs off the request path), so a space of more devices than the queue holds is nudged
whole instead of pushing out its own first nudges. What cannot wait (a notification, a
nudge the interval held, a retry) or a queue full of retries drops the oldest waiting push
(counted): the newest carry the newest heads, and a device that missed a nudge still
catches up when its app opens. pywebpush's own
`send_async` is not used for the request: it follows redirects (a push service's 3xx would
send the server to an address nobody checked) and leaves its connector's resolver to
aiohttp's default. Here the session's resolver refuses every non-public address
(endpoints.py) and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from pywebpush import WebPusher

from ..config.metrics import Metrics
from ..storage.push_subscriptions import PushSubscriptionRow
from .endpoints import PublicResolver, check_endpoint
from .vapid import VapidKey, b64url

log = logging.getLogger("syncserver.webpush")

RETRIES = 5  # sends of one push after its first
BACKOFF_S = (1.0, 300.0)  # the first retry's backoff without Retry-After, and the most
MAX_RETRY_AFTER_S = 3600.0
TIMEOUT_S = 15.0  # one request to a push service, connection included
LOG_EVERY_S = 60.0


def topic(*parts: str) -> str:
    """A `Topic` header (RFC 8030 5.4: at most 32 characters of base64url): a hash, so a
    space's name never reaches the push service."""
    return b64url(hashlib.sha256("\0".join(parts).encode()).digest()[:24])


@dataclass
class Push:
    subscription: PushSubscriptionRow
    payload: bytes  # JSON, encrypted when sent
    kind: str  # "sync" or "notify" (the metrics' label)
    urgency: str  # RFC 8030 5.3: very-low, low, normal, high
    ttl: int
    topic: str | None = None
    attempts: int = 0

    @property
    def key(self) -> tuple[str, str, str] | None:
        """Pushes of one key replace each other while waiting (None: never replaced)."""
        if self.topic is None:
            return None
        return (self.subscription.sub, self.subscription.client_id, self.topic)


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


Gone = Callable[[PushSubscriptionRow], Awaitable[None]]


class Sender:
    def __init__(self, vapid: VapidKey, metrics: Metrics, capacity: int, senders: int,
                 allow_loopback: bool, gone: Gone) -> None:
        self.vapid = vapid
        self.metrics = metrics
        self.capacity = capacity
        self.senders = senders
        self.allow_loopback = allow_loopback
        self.gone = gone  # a subscription its push service says is no more
        self._queue: OrderedDict[object, Push] = OrderedDict()
        self._numbers = itertools.count()
        self._ready = asyncio.Event()  # set when a push is queued
        self._taken = asyncio.Event()  # set when a sender takes a push out
        self._retrying: dict[int, tuple[Push, asyncio.TimerHandle]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._logged: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=PublicResolver(self.allow_loopback),
                                         limit=self.senders, ttl_dns_cache=60)
        # trust_env off: no proxy from the environment, whose own resolution the
        # resolver above could not check.
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self.senders)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for _push, handle in self._retrying.values():
            handle.cancel()
        self._retrying.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the queue -------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue) + len(self._retrying)

    def _gauge(self) -> None:
        self.metrics.webpush_queue_depth.set(self.depth)

    def enqueue(self, push: Push) -> bool:
        """Queue `push`; False: it replaced a waiting push of its key (coalesced)."""
        key = push.key
        if key is not None and key in self._queue:
            self._queue[key] = push  # keeps its place in the line
            return False
        while self.depth >= self.capacity and self._drop_oldest():
            pass
        self._queue[key if key is not None else next(self._numbers)] = push
        self._gauge()
        self._wake()
        return True

    async def room(self) -> None:
        """Wait while the queue is full of pushes the senders are taking out: room comes
        within a send's time. Not while only retries fill it (a push service away for
        minutes): a push queued then drops the oldest (enqueue)."""
        while self.depth >= self.capacity and self._queue and self._tasks:
            self._taken.clear()
            await self._taken.wait()

    def _drop_oldest(self) -> bool:
        if self._queue:
            self._queue.popitem(last=False)
        elif self._retrying:
            number = next(iter(self._retrying))
            self._retrying.pop(number)[1].cancel()
        else:
            return False
        self.metrics.webpush_dropped.inc()
        self._log("dropped", "the Web Push queue is full (SYNCSERVER_WEBPUSH_QUEUE): the "
                  "oldest waiting pushes are dropped")
        return True

    def _wake(self) -> None:
        self._ready.set()

    async def _next(self) -> Push:
        while not self._queue:  # (every idle sender wakes; those that find none wait again)
            self._ready.clear()
            await self._ready.wait()
        _key, push = self._queue.popitem(last=False)
        self._gauge()
        self._taken.set()
        return push

    async def _run(self) -> None:
        while True:
            push = await self._next()
            try:
                await self._send(push)
            except Exception:  # a bug: logged, the sender goes on
                log.exception("unexpected error sending a push")

    # -- one push --------------------------------------------------------------------

    def _encrypt(self, push: Push) -> bytes:
        subscription = push.subscription
        info = {"endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
        body: bytes = WebPusher(info).encode(push.payload, "aes128gcm")["body"]
        return body

    async def _send(self, push: Push) -> None:
        subscription = push.subscription
        assert self._session is not None
        try:  # checked again: the settings may have changed since it was registered
            check_endpoint(subscription.endpoint, self.allow_loopback)
        except Exception:
            self.metrics.webpush_failed.inc()
            return
        parts = urlsplit(subscription.endpoint)
        headers = {"TTL": str(push.ttl), "Urgency": push.urgency,
                   "Content-Encoding": "aes128gcm",
                   "Content-Type": "application/octet-stream",
                   "Authorization": self.vapid.authorization(f"{parts.scheme}://{parts.netloc}")}
        if push.topic is not None:
            headers["Topic"] = push.topic
        try:
            body = await asyncio.to_thread(self._encrypt, push)
        except Exception as exc:  # keys that passed the checks but do not work
            self.metrics.webpush_failed.inc()
            self._log("encrypt", "a push could not be encrypted for its subscription: %s", exc)
            return
        try:
            async with self._session.post(subscription.endpoint, data=body, headers=headers,
                                          allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
                                          ) as response:
                status = response.status
                wait = retry_after(response.headers.get("Retry-After"))
                await response.content.read(4096)  # a little of it, for the connection
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._log("connect", "a push service could not be reached (%s): retrying",
                      type(exc).__name__)
            self._retry(push, None)
            return
        if 200 <= status < 300:
            self.metrics.webpush_sent.labels(push.kind).inc()
        elif status in (404, 410):
            self.metrics.webpush_subscriptions_dropped.inc()
            await self.gone(subscription)
        elif status == 429 or status >= 500:
            self._retry(push, wait)
        else:
            self.metrics.webpush_failed.inc()
            self._log(f"status{status}", "a push service refused a push: %s", status)

    def _retry(self, push: Push, wait: float | None) -> None:
        if push.attempts >= RETRIES:
            self.metrics.webpush_failed.inc()
            return
        push.attempts += 1
        if wait is None:
            backoff = min(BACKOFF_S[0] * 2 ** (push.attempts - 1), BACKOFF_S[1])
            wait = random.uniform(backoff / 2, backoff)
        wait = min(wait, MAX_RETRY_AFTER_S)
        self.metrics.webpush_retries.inc()
        while self.depth >= self.capacity and self._drop_oldest():
            pass
        number = next(self._numbers)
        handle = asyncio.get_running_loop().call_later(wait, self._retry_now, number)
        self._retrying[number] = (push, handle)
        self._gauge()

    def _retry_now(self, number: int) -> None:
        waiting = self._retrying.pop(number, None)
        if waiting is None:
            return
        push = waiting[0]
        key = push.key
        if key is not None and key in self._queue:  # a newer one of its key is queued
            self._gauge()
            return
        self._queue[key if key is not None else number] = push
        self._gauge()
        self._wake()

    def _log(self, what: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged.get(what, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[what] = now
            log.warning(message, *args)
