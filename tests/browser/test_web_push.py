"""Web Push in Chromium: the demo's "Notify me" registers the device, a change made
elsewhere while no page of the app is open reaches the worker as a push, which pulls it
into IndexedDB and shows the notification the demo's `onPush` writes; a click brings a
window of the app to the notification's URL.

Limits of a closed machine, and how the test stays honest about them:
- Headless Chromium has no push service: `pushManager.subscribe()` rejects ("Registration
  failed - permission denied") even with the permission granted. The page's `subscribe`
  is replaced (an init script) by one returning the subscription of a device of the tests'
  local push service (tests/webpush/pushservice.py: its own P-256 keys and auth secret,
  as a browser makes them); everything else is real: the demo's button, enablePush, the
  server's registration, the server's encrypted nudge, which the local service decrypts.
- The push service cannot reach Chromium either: the decrypted payload is delivered to
  the real worker with the DevTools protocol (`ServiceWorker.deliverPushMessage`), as
  Chromium's push service would.
- No protocol clicks a notification: the click is a `notificationclick` dispatched in the
  worker, with the notification Chromium shows. An event that no user made may neither
  focus nor open a window (both need the click's user activation): this checks that the
  worker brings an open window of the app to the notification's URL; the focus and
  open-window routes are covered by client_sw/test/push-worker.test.js.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.demo_app import DemoPage, poll
from tests.helpers import metric_value, mutation, stamped_by
from tests.server import ServerProcess

# The server side of Web Push and its local push service come with the server's branch
# (webpush); once both are merged this always imports.
PushService = pytest.importorskip(
    "tests.webpush.pushservice", reason="the server's Web Push (branch webpush) is not merged"
).PushService
SUBJECT = pytest.importorskip("tests.webpush.support").SUBJECT
generate = pytest.importorskip("syncserver.webpush.vapid").generate

# The page's pushManager.subscribe(), as a browser with a push service answers it: the
# subscription of the test's device (window.__pushDevice, set before the page loads).
FAKE_SUBSCRIBE = """
(() => {
  const device = %s;
  let current = null;
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey).buffer;
    current = {
      endpoint: device.endpoint, expirationTime: null,
      options: { applicationServerKey: key, userVisibleOnly: true },
      toJSON: () => device,
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


def registration_of(cdp: Any, page: Page, scope: str) -> str:
    """The id CDP uses for the worker registration of `scope` (activated)."""
    registrations: dict[str, str] = {}
    activated: set[str] = set()
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.update(
        {r["registrationId"]: r["scopeURL"] for r in event["registrations"]}))
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: activated.update(
        v["registrationId"] for v in event["versions"] if v["status"] == "activated"))
    cdp.send("ServiceWorker.enable")
    return poll(page, lambda: next(
        (rid for rid, url in registrations.items() if url == scope and rid in activated), None),
        what="the worker registration over CDP")


def stored(page: Page, db_name: str, space: str) -> list[str]:
    """The titles of the todos of `space` in the database, read from IndexedDB."""
    return page.evaluate("""async ({name, space}) => {
        const m = await import('/sync/index.js');
        const db = await m.openDatabase({ name });
        try { return (await m.listRecords(db, space, 'todos')).map((r) => r.data.title).sort(); }
        finally { db.close(); }
    }""", {"name": db_name, "space": space})


def notifications(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("""async () => {
        const registration = await navigator.serviceWorker.getRegistration();
        const shown = await registration.getNotifications();
        return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
    }""")


def test_a_push_with_no_page_open_pulls_the_change_shows_a_notification_and_a_click_opens_it(
    browser: Browser, tmp_path: Any
) -> None:
    private, _public = generate()
    env = {"SYNCSERVER_WEBPUSH_VAPID_KEY": private, "SYNCSERVER_WEBPUSH_SUBJECT": SUBJECT,
           "SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK": "1", "SYNCSERVER_WEBPUSH_MIN_INTERVAL": "0"}
    server = ServerProcess(tmp_path / "sync.db", demo=True, env=env).start()
    space = f"b-{uuid.uuid4().hex[:10]}"
    context: BrowserContext = browser.new_context()
    with PushService() as service:
        device = service.device("chromium")
        try:
            context.grant_permissions(["notifications"], origin=server.url)
            context.add_init_script(FAKE_SUBSCRIBE % json.dumps(device.subscription()))
            # Not the app: a page that holds the DevTools session while the app is closed.
            holder = context.new_page()
            cdp = context.new_cdp_session(holder)
            app = DemoPage.open(context, server.url, space, user="alice")
            rid = registration_of(cdp, app.page, server.url + "/")
            app.page.click("#notify-me")
            app.page.wait_for_function(
                "() => document.getElementById('notify-me').dataset.enabled === 'true'",
                timeout=10_000)
            db_name = app.db_name()
            app.page.close()  # no page of the app open from here on, and no live socket

            with httpx.Client(base_url=server.url, timeout=10) as other:
                # A device the server still sees live on its WebSocket gets the frame, not
                # a nudge: write once the server has seen the closed page's socket go.
                poll(holder, lambda: metric_value(other.get("/metrics").text,
                                                  "syncserver_ws_connections") == 0 or None,
                     what="the closed page's WebSocket to end at the server")
                batch = stamped_by("c-phone", [
                    mutation(1, "t1", space=space, node="c-phone", data={"title": "milk"}),
                    mutation(2, "t2", space=space, node="c-phone", data={"title": "eggs"}),
                ])
                pushed = other.post("/v1/push", json={"client_id": "c-phone", "mutations": batch})
                assert pushed.status_code == 200, pushed.text
            nudge = poll(holder, lambda: next((p for p in device.payloads if p and p.get(
                "space") == space and p.get("type") == "sync" and p.get("head", 0) >= 2), None),
                timeout=20, what="the server's nudge at the push service")
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": server.url, "registrationId": rid, "data": json.dumps(nudge)})

            # A page of the app's origin that does not run the app: what it finds was done
            # by the worker alone.
            after = context.new_page()
            after.goto(f"{server.url}/offline.html")
            shown = poll(after, lambda: notifications(after), timeout=20,
                         what="the worker's notification")
            assert len(shown) == 1, shown
            url = f"/?user=alice&space={space}"
            assert shown[0]["title"] == f"2 new items in the shared list {space}"
            assert sorted(shown[0]["body"].split(", ")) == ["eggs", "milk"]
            assert shown[0]["tag"] == f"demo:{space}"
            assert shown[0]["data"] == {"syncserver": True, "type": "sync", "space": space,
                                        "url": url}
            assert stored(after, db_name, space) == ["eggs", "milk"]

            # The click: the open window of the app is brought to the notification's URL.
            worker = poll(after, lambda: next(iter(context.service_workers), None),
                          what="the service worker")
            worker.evaluate("""async () => {
                const [notification] = await self.registration.getNotifications();
                self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
            }""")
            after.wait_for_url(f"{server.url}{url}", timeout=10_000)
            after.wait_for_function("() => document.body.dataset.ready === 'true'",
                                    timeout=10_000)
            # The list renders from IndexedDB after the page is ready: wait for it.
            poll(after, lambda: after.eval_on_selector_all(
                "#todos li .title", "els => els.map(e => e.value).sort()") == ["eggs", "milk"]
                or None, what="the app at the notification's URL to show the pulled records")
            assert poll(after, lambda: notifications(after) == [] or None,
                        what="the clicked notification to close")
        finally:
            context.close()
            server.stop()
