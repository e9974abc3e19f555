"""A real server started with a collections file, on SQLite or PostgreSQL, and the pushes
and reads the declared-collections tests make of it."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg import BACKENDS, backend_database
from tests.server import ServerProcess

_stamps = itertools.count()


def write_file(directory: Path, document: dict[str, Any], name: str = "collections.json"
               ) -> Path:
    path = directory / name
    path.write_text(json.dumps(document))
    return path


@contextmanager
def declared_server(backend: str, directory: Path, document: dict[str, Any],
                    args: Sequence[str] = ()) -> Iterator[ServerProcess]:
    """A server of a fresh database of `backend` with `document` as its collections file."""
    path = write_file(directory, document)
    with backend_database(backend, directory) as db:
        server = ServerProcess(db, args=("--collections", str(path), *args),
                               log=directory / "server.log").start()
        try:
            yield server
        finally:
            server.stop()


def declared_fixture(document: dict[str, Any], args: Sequence[str] = ()) -> Any:
    """A module's `server` fixture: one server with `document` as its collections file, on
    each backend in turn (the tests/collections/conftest.py `writer` writes to it)."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def server(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        with declared_server(request.param, tmp_path_factory.mktemp("declared"), document,
                             args) as started:
            yield started

    return server


class Writer:
    """One client of a server: its own id and mids, every mutation stamped as its own."""

    def __init__(self, http: httpx.Client, client_id: str, space: str) -> None:
        self.http = http
        self.client_id = client_id
        self.space = space
        self.mids = itertools.count(1)

    def mutation(self, record_id: str, op: str = "put", data: Any = None, base: int = 0,
                 collection: str = "todos", **more: Any) -> dict[str, Any]:
        m = {"mid": next(self.mids), "space": self.space, "collection": collection,
             "id": record_id, "op": op, "base_version": base, "hlc": self.stamp(), **more}
        if op != "delete":
            m["data"] = data
        return m

    def stamp(self) -> str:
        return f"{int(time.time() * 1000):013d}:{next(_stamps) % 100000:05d}:{self.client_id}"

    def push(self, *mutations: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
        response = self.http.post("/v1/push", json={"client_id": self.client_id,
                                                    "protocol": 2,
                                                    "mutations": list(mutations), **body})
        assert response.status_code == 200, response.text
        return response.json()["results"]  # type: ignore[no-any-return]

    def one(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Push one mutation; its result."""
        (result,) = self.push(self.mutation(*args, **kwargs))
        return result

    def records(self) -> dict[str, dict[str, Any]]:
        """The space's records as the feed shows them, by id (collection todos and others:
        ids are unique within a test's space)."""
        state: dict[str, dict[str, Any]] = {}
        since = ""
        while True:
            response = self.http.get("/v1/changes", params={"space": self.space,
                                                            "since": since})
            assert response.status_code == 200, response.text
            page = response.json()
            state.update({change["id"]: change for change in page["changes"]})
            since = page["cursor"]
            if not page["more"]:
                return state


def rejected(result: dict[str, Any], code: str, pointer: str | None = None) -> str:
    """The result is a rejection with `code` (and `pointer`); its message."""
    assert result["status"] == "rejected" and result["code"] == code, result
    if pointer is not None:
        assert result["pointer"] == pointer, result
    assert result["message"], result
    return result["message"]  # type: ignore[no-any-return]


def applied(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] in ("applied", "merged"), result
    return result
