"""The WebSocket channel (/v1/ws): subscriptions (catch-up pages, then live changes) and
push, over one connection per client. A connection is made of parts, one concept each:

- connection.py: the gate on connections (`endpoint`) and one connection's life, from the
  handshake to the close (1001 when the server stops);
- outbox.py: the frames on their way out, the sender that writes them within the
  connection's byte budget, and the slow consumer dropped or closed;
- authentication.py: the `hello`, its token, a token refresh, and the token's expiry;
- frames.py: the frames read, each handed to what answers its type (a push, here);
- subscribe.py: the connection's subscriptions, one per space, and their limit;
- subscription.py: one subscription: its catch-up pages, then its space's live changes;
- closes.py: the close codes.

A failure inside one subscription ends that subscription only, with an `error` frame
naming its space; the connection and its other subscriptions go on.
"""

from .connection import endpoint

__all__ = ["endpoint"]
