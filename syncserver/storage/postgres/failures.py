"""Which PostgreSQL errors are storage trouble (storage/failures.py): trouble of the
database or of the way to it (connection lost, server shutting down, full disk, too many
connections, a pool with no free connection in time, a read-only standby), or a damaged
page: retrying later can succeed (after a repair, for that one). Constraint and syntax
errors are bugs (500). A deadlock or a serialization failure is contention: the backend
runs the transaction again, a few times, before it answers 503."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from ..failures import StorageError, StorageUnavailable, Trouble

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
DAMAGED = (pg_errors.DataCorrupted, pg_errors.IndexCorrupted)  # SQLSTATE XX001, XX002


class Contention(StorageUnavailable):
    """A deadlock or a serialization failure: the transaction may succeed if run again."""


def _trouble(exc: psycopg.Error) -> Trouble | None:
    """What trouble `exc` is (kinds as SQLite's; the words never the driver's text, which
    names hosts, users, databases), or None: not trouble."""
    if isinstance(exc, pg_errors.DiskFull):
        return Trouble("disk_full", "the database's disk is full")
    if isinstance(exc, pg_errors.TooManyConnections):
        return Trouble("no_connection", "the database has no free connection")
    if isinstance(exc, PoolTimeout):
        return Trouble("no_connection", "no free connection in the pool in time")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return Trouble("read_only", "the database is read-only")
    if isinstance(exc, DAMAGED):
        return Trouble("damaged", "the database's data is damaged")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return Trouble("unreachable", "the database does not answer")
    return None


def translate(exc: psycopg.Error) -> StorageError:
    """`exc` as the storage family, with `exc` as its cause."""
    error: StorageError
    if isinstance(exc, RETRYABLE):
        error = Contention("too many concurrent writes to the same rows", "contention")
    else:
        trouble = _trouble(exc)
        error = trouble.error() if trouble is not None else StorageError()
    error.__cause__ = exc
    return error


def storage_errors(method: Callable[P, T]) -> Callable[P, T]:
    """`method`, raising psycopg's errors as the storage family: on the methods of the
    transaction the core calls."""
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except psycopg.Error as exc:
            raise translate(exc) from exc
    return run
