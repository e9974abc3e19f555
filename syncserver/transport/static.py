"""Files served next to the API: the client library at /sync/ and an app at / (the demo,
or your own with `--static DIR`). Served for PWAs: every file is revalidated, scripts may
be service workers scoped to the whole origin, and nothing outside the folder is served.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from ..config.settings import Settings

# Stated here rather than guessed from the host's /etc/mime.types, which may lack some
# (.webmanifest, .mjs) or map .js to application/javascript: a module script or a worker
# served with the wrong type is refused by the browser.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
}
SCRIPTS = {".js", ".mjs"}
# The one dot-folder an app may need to publish (asset links, security.txt); every other
# name starting with a dot (.git, .env) stays private.
SERVED_DOT_NAMES = {".well-known"}
# Paths of the API and the library: never looked up in the app's folder.
API_PREFIXES = frozenset({"v1", "sync"})


class AppFiles(StaticFiles):
    """Starlette's static files (which already refuse `..` and symlinks that leave the
    folder), plus what a PWA needs:

    - `Cache-Control: no-cache` on every file: the browser revalidates (an ETag, a 304
      without a body when unchanged), so a new service worker, library or index.html is
      seen on the next load instead of after a heuristic freshness time;
    - `Service-Worker-Allowed: /` on scripts: a worker script served from a sub-path
      (`/assets/sw.js`) may still control the whole origin; the operator owns every file
      here, so any of them may;
    - content types that do not depend on the host;
    - dot files refused, and any lookup failure (a symlink loop, no permission) a 404.
    """

    def __init__(self, *, directory: Path, html: bool = False,
                 reserved: frozenset[str] = frozenset()) -> None:
        super().__init__(directory=directory, html=html)
        self.reserved = reserved  # first path segments that belong to the server

    async def get_response(self, path: str, scope: Scope) -> Response:
        parts = PurePath(path).parts
        if parts and parts[0] in self.reserved:
            # An unknown API path stays a problem+json 404, never the app's 404.html.
            raise HTTPException(status_code=404)
        if any(part.startswith(".") and part not in SERVED_DOT_NAMES
               for part in parts):  # `..` included
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            full_path, stat_result = super().lookup_path(path)
        except OSError:  # ELOOP, EACCES, ENAMETOOLONG...: not a file we serve
            return "", None
        if stat_result is not None and not os.access(full_path, os.R_OK):
            return "", None
        return full_path, stat_result

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        suffix = PurePath(full_path).suffix.lower()
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result,
                                media_type=CONTENT_TYPES.get(suffix))
        response.headers["cache-control"] = "no-cache"
        if suffix in SCRIPTS:
            response.headers["service-worker-allowed"] = "/"
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class AppMount(Mount):
    """The app's mount at /, which leaves the server's own paths to the router: an API
    route asked with another method is then that route's 405 with `Allow` (a mount that
    matches every path won over the route's partial match, and answered 404)."""

    def __init__(self, app: AppFiles, name: str, reserved: frozenset[str]) -> None:
        super().__init__("/", app, name=name)
        self.reserved = reserved

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and \
                scope["path"].lstrip("/").split("/", 1)[0] in self.reserved:
            return Match.NONE, {}
        return super().matches(scope)


def mounts(settings: Settings, client_dir: Path) -> list[Mount]:
    """The client library at /sync/ and the app at /: `--static DIR` when given (whatever
    `--demo` says: your app needs the library), else the demo unless `--no-demo`."""
    library = client_dir / "src"
    if settings.static:
        app_dir, name = Path(settings.static).resolve(), "app"
    elif settings.demo and (client_dir / "demo").is_dir():
        app_dir, name = client_dir / "demo", "demo"
    else:
        return []
    found = []
    if library.is_dir():
        found.append(Mount("/sync", AppFiles(directory=library), name="client"))
    found.append(AppMount(AppFiles(directory=app_dir, html=True, reserved=API_PREFIXES),
                          name, API_PREFIXES))
    return found
