"""Web Push (RFC 8030, 8291, 8292): a closed app's service worker nudged to sync, and the
app's own notifications (docs/protocol.md "Web Push", docs/deployment.md "Web Push").

What lives here: the VAPID key (`vapid.py`), the push endpoints a subscription may name and
the resolver that keeps the server off internal addresses (`endpoints.py`), the request
bodies (`requests.py`), the spaces with subscriptions kept in memory (`index.py`), the
bounded queue and its sender tasks (`sender.py`), the sync nudges after a commit with their
per-device interval (`nudges.py`), and `WebPush` (`service.py`) that holds them together.

May import: model, collections, config, storage, guard, core. The transport (its
endpoints) and ops (the app, the `vapid` command) import it. What it needs of the WebSocket
side (is a device following a space live here?) it declares as a Protocol (`LiveDevices`).
"""
