"""Dev mode (`syncserver serve --dev`): the README's one-command quick start with auth on.

Auth stays on, verified as in production, with an HS256 secret generated on the first
start and kept in the database (meta `dev_jwt_secret`), so tokens survive a restart on
any storage backend. `POST /v1/dev/token` hands a caller on this machine a short-lived
token for any user it names: its private space `user-{sub}` and the shared spaces it asks
for (the demo's `demo` by default), less those revoked in dev mode's access table
(devaccess.py, `/v1/dev/grants`). That is the whole point and the whole danger: whoever
reaches the endpoint is whoever they say. So both endpoints exist only under `--dev`,
answer only loopback peers that address the server by a loopback name (a page of another
site that rebinds its DNS name to 127.0.0.1 still sends its own `Host`), and the server
says so loudly when it starts.
"""

from __future__ import annotations

import ipaddress
import re
import textwrap
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config.settings import Settings
from ..guard.guard import Guard
from ..guard.permissions import EVERY_SPACE, MAX_ROLE_LENGTH, RESERVED_ROLES, space_named
from ..guard.tokens import mint
from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN
from ..transport.http_api import read_json
from .devaccess import PRIVATE, DevAccess, parse_change

TOKEN_TTL = 3600  # seconds; the browser client asks again after a 401 or a 4401 close
DEFAULT_SPACES = ("demo",)
MAX_SPACES = 20
MAX_ROLES = 20  # role names in one entry of a dev token's `roles`
SUB = re.compile(r"^[A-Za-z0-9_.-]{1,59}$")  # `user-` + sub is still a space name
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
BAR = "*" * 78


def banner(settings: Settings) -> list[str]:
    """The lines `serve` prints when it starts in dev mode."""
    kept = "Tokens are signed with --jwt-secret." if settings.jwt_secret else \
        f"The token secret was generated for you and is kept in {settings.db}."
    paragraphs = [
        "DEV MODE: anyone who can reach this server can obtain a token for any user "
        f"(POST /v1/dev/token) and read and write that user's spaces. {kept}",
        "For your own machine only. Never in production: give --jwt-secret or --jwks "
        "instead (docs/security.md, \"Dev mode\").",
    ]
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        paragraphs.insert(1, f"--host {settings.host}: other machines may reach this "
                             "server. Dev tokens are handed to this machine only, but do "
                             "not rely on it.")
    return [BAR, *(line for text in paragraphs for line in textwrap.wrap(text, 78)), BAR]


def auth_off_warning() -> str:
    return ("WARNING: --auth none: authentication is off; anyone who can reach this server "
            "reads and writes every space. Run it so only behind an auth proxy of your own "
            "(docs/security.md).")


def grants(sub: str, shared: list[str]) -> dict[str, str]:
    return {f"{PRIVATE}{sub}": "rw", **{space: "rw" for space in shared}}


def _local(request: Request) -> None:
    peer = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    host = request.headers.get("host", "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not loopback or name not in LOOPBACK_NAMES:
        raise SyncError(ErrorCode.FORBIDDEN, "dev tokens are handed only to this machine: "
                        "open the app at http://localhost or http://127.0.0.1 on the "
                        "machine that runs `syncserver serve --dev`")


def _roles(value: object, sub: str) -> dict[str, list[str]]:
    """A dev token's `roles`: a list (the roles in every space the token grants) or an
    object {space, pattern with {sub}, or "*": [roles]}, as the claim is
    (guard/permissions.py); here a malformed one is a 400, not roles left out."""
    problem = SyncError(ErrorCode.INVALID_REQUEST, 'roles must be a list of role names '
                        '(["member"]: in every space of the token) or an object of such '
                        'lists by space ({"team-1": ["editor"], "*": ["member"]}); a role name '
                        f'is 1 to {MAX_ROLE_LENGTH} characters, not "*" or "owner"',
                        field="roles")
    entries = {EVERY_SPACE: value} if isinstance(value, list) else value
    if not isinstance(entries, dict) or len(entries) > MAX_SPACES + 1:
        raise problem
    roles: dict[str, list[str]] = {}
    for key, names in entries.items():
        if key != EVERY_SPACE and space_named(key, sub) is None:
            raise problem
        if not isinstance(names, list) or len(names) > MAX_ROLES or not all(
                isinstance(n, str) and 0 < len(n) <= MAX_ROLE_LENGTH
                and n not in RESERVED_ROLES for n in names):
            raise problem
        if names:
            roles[key] = sorted(set(names))
    return roles


def _parse(body: object) -> tuple[str, list[str]]:
    if not isinstance(body, dict):
        raise SyncError(ErrorCode.INVALID_REQUEST, 'send {"sub": "alice"} (and optionally '
                        '"spaces": ["demo"])')
    sub = body.get("sub")
    if not isinstance(sub, str) or SUB.fullmatch(sub) is None:
        raise SyncError(ErrorCode.INVALID_REQUEST, "sub must be a user name of 1 to 59 "
                        "characters A-Z a-z 0-9 _ . -", field="sub")
    shared = body.get("spaces", list(DEFAULT_SPACES))
    if not isinstance(shared, list) or len(shared) > MAX_SPACES or not all(
            isinstance(s, str) and SPACE_PATTERN.fullmatch(s) for s in shared):
        raise SyncError(ErrorCode.INVALID_REQUEST, f"spaces must be a list of at most "
                        f"{MAX_SPACES} space names", field="spaces")
    for space in shared:
        if space.startswith(PRIVATE) and space != f"{PRIVATE}{sub}":
            raise SyncError(ErrorCode.FORBIDDEN, f"{space!r} is another user's private "
                            "space: ask for a token of that user", field="spaces")
    return sub, sorted(set(shared))


async def token(request: Request, access: DevAccess) -> Response:
    """POST /v1/dev/token {"sub": "alice", "spaces": ["demo"], "roles": ["member"]} -> a
    token (dev mode only): the shared spaces asked for that `access` has not revoked from
    `sub`, and the roles asked for (the declared collections' role lists check them)."""
    guard: Guard = request.app.state.guard
    settings: Settings = request.app.state.settings
    _local(request)
    body = await read_json(request, 4096)
    sub, shared = _parse(body)
    assert isinstance(body, dict)
    roles = _roles(body.get("roles", []), sub)
    withheld = [space for space in shared if not access.allows(sub, space)]
    spaces = grants(sub, [space for space in shared if space not in withheld])
    minted = mint(guard.auth.verifier.secret, sub, spaces, TOKEN_TTL,
                  settings.jwt_issuer, settings.jwt_audience, roles)
    return JSONResponse({"token": minted, "sub": sub, "spaces": spaces, "roles": roles,
                         "withheld": withheld, "expires_at": int(time.time()) + TOKEN_TTL},
                        headers={"cache-control": "no-store"})


def routes(settings: Settings) -> list[Route]:
    """The dev endpoints, only in dev mode: without --dev their paths are unknown ones
    (404 not_found). The access table is this app's own."""
    if not settings.dev:
        return []
    access = DevAccess()

    async def dev_token(request: Request) -> Response:
        return await token(request, access)

    async def read_grants(request: Request) -> Response:
        """GET /v1/dev/grants -> {"version", "revoked": [{"sub", "space"}]}."""
        _local(request)
        return access.answer()

    async def change_grant(request: Request) -> Response:
        """POST /v1/dev/grants {"sub", "space", "granted"} -> the table after it."""
        _local(request)
        access.change(*parse_change(await read_json(request, 4096), SUB))
        return access.answer()

    return [Route("/v1/dev/token", dev_token, methods=["POST"]),
            Route("/v1/dev/grants", read_grants, methods=["GET"]),
            Route("/v1/dev/grants", change_grant, methods=["POST"])]
