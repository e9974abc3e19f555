"""Dev mode's access table: the shared spaces a user's dev tokens leave out.

A dev token grants `user-{sub}` and the shared spaces its caller asks for (devmode.py),
except those revoked here. `POST /v1/dev/grants {"sub": "bob", "space": "demo",
"granted": false}` revokes; `true` grants again; `GET /v1/dev/grants` reads the table. A
bearer token cannot be taken back, so a revocation reaches a device when it takes its next
token: the demo page reads the table and calls the client's `resume()`, which asks for a
new token and follows what it grants (docs/client.md, "Many spaces"). Like the token
endpoint it exists only under `--dev` and answers only this machine. The table lives in
the server's memory: a restart grants everything again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.responses import JSONResponse, Response

from ..model.errors import ErrorCode, SyncError
from ..model.mutations import SPACE_PATTERN

PRIVATE = "user-"  # a private space is `user-{sub}`, always its own user's
MAX_REVOKED = 1_000  # (sub, space) pairs held at once: a local caller cannot grow it for ever


@dataclass
class DevAccess:
    revoked: set[tuple[str, str]] = field(default_factory=set)
    version: int = 0  # one more at every change, so a page can tell a change from none

    def allows(self, sub: str, space: str) -> bool:
        return (sub, space) not in self.revoked

    def change(self, sub: str, space: str, granted: bool) -> None:
        pair = (sub, space)
        if granted == (pair not in self.revoked):
            return
        if granted:
            self.revoked.discard(pair)
        elif len(self.revoked) >= MAX_REVOKED:
            raise SyncError(ErrorCode.INVALID_REQUEST, f"{MAX_REVOKED} grants are revoked "
                            "already: grant some back first (or restart the server)",
                            field="granted")
        else:
            self.revoked.add(pair)
        self.version += 1

    def answer(self) -> Response:
        revoked = [{"sub": sub, "space": space} for sub, space in sorted(self.revoked)]
        return JSONResponse({"version": self.version, "revoked": revoked},
                            headers={"cache-control": "no-store"})


def parse_change(body: object, sub_pattern: re.Pattern[str]) -> tuple[str, str, bool]:
    """A POST /v1/dev/grants body -> (sub, space, granted), or a 400 naming the field."""
    if not isinstance(body, dict):
        raise SyncError(ErrorCode.INVALID_REQUEST, 'send {"sub": "bob", "space": "demo", '
                        '"granted": false}')
    sub = body.get("sub")
    if not isinstance(sub, str) or sub_pattern.fullmatch(sub) is None:
        raise SyncError(ErrorCode.INVALID_REQUEST, "sub must be a user name of 1 to 59 "
                        "characters A-Z a-z 0-9 _ . -", field="sub")
    space = body.get("space")
    if not isinstance(space, str) or SPACE_PATTERN.fullmatch(space) is None:
        raise SyncError(ErrorCode.INVALID_REQUEST, f"space must match "
                        f"{SPACE_PATTERN.pattern}", field="space")
    if space.startswith(PRIVATE):
        raise SyncError(ErrorCode.INVALID_REQUEST, f"{space!r} is a private space: a dev "
                        "token always grants its own user's and never another's; only "
                        "shared spaces are granted and revoked", field="space")
    granted = body.get("granted")
    if not isinstance(granted, bool):
        raise SyncError(ErrorCode.INVALID_REQUEST, "granted must be true (grant) or false "
                        "(revoke)", field="granted")
    return sub, space, granted
