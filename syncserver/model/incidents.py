"""Unexpected failures inside one mutation: logged under an id that the client is given.

A failure the server did not foresee (a bug, an app resolver misbehaving) becomes that
mutation's rejection with code `internal_error`, never its batch's failure. The traceback
goes to the log under a fresh id, and the rejection carries that id (`error_id`, and in its
message) so that an operator handed a rejected mutation can find the log line.
"""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger("syncserver.incidents")


def report(what: str, exc: BaseException, **context: object) -> str:
    """Log `exc` (with its traceback) under a new id, and return the id."""
    error_id = secrets.token_hex(8)
    details = "".join(f" {name}={value!r}" for name, value in context.items())
    log.error("error %s while %s:%s %s: %s", error_id, what, details, type(exc).__name__,
              exc, exc_info=exc)
    return error_id


def message(error_id: str) -> str:
    return (f"the server failed on this mutation (error {error_id} in the server log); "
            "the mutation was not applied, and the rest of the batch was")
