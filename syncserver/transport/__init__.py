"""How clients reach the core: the HTTP API (http_api.py, openapi.py; the declared
collections, collections_api.py), the WebSocket connection and its subscriptions (the
ws/ package), answers handed to clients that
may never read them (sending.py), CORS (cors.py), security headers (headers.py), static
files (static.py), and the socket-level protocols and graceful serving under uvicorn
(timeouts.py, serving.py).

May import: model, collections, config, storage, guard, core, webpush."""
