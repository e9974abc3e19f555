"""Pushes and conflict resolutions must say `Content-Type: application/json`: an empty or
form content type is a `415 unsupported_media_type` and stores nothing (a cross-site HTML
form can post `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`
without a preflight, and a `fetch` with no body type sends none; neither may push)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.core.support import snapshot
from tests.helpers import assert_problem, mutation, stamped_by
from tests.server import ServerProcess


def _body(space: str) -> bytes:
    client_id = "c-" + space  # a client of its own: each test pushes its own mid 1
    return orjson.dumps({"client_id": client_id, "mutations": stamped_by(
        client_id, [mutation(1, "f", space=space)])})


@pytest.mark.parametrize("content_type", [
    None, "", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/merge-patch+json", "application/jsonx",
    "json"])
def test_a_push_without_the_json_media_type_is_refused_and_stores_nothing(
        plain_server: ServerProcess, space: str, content_type: str | None) -> None:
    before = snapshot(plain_server.db)
    headers = {} if content_type is None else {"content-type": content_type}
    request = httpx.Request("POST", plain_server.url + "/v1/push", content=_body(space),
                            headers=headers)
    if content_type is None:
        assert "content-type" not in request.headers
    with httpx.Client(timeout=10) as client:
        r = client.send(request)
    assert_problem(r, 415, "unsupported_media_type")
    assert snapshot(plain_server.db) == before


@pytest.mark.parametrize("content_type", [None, "", "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_a_conflict_resolution_without_the_json_media_type_is_refused(
        plain_server: ServerProcess, content_type: str | None) -> None:
    before = snapshot(plain_server.db)
    headers = {} if content_type is None else {"content-type": content_type}
    r = httpx.post(plain_server.url + "/v1/conflicts/1/resolve", content=b'{"data": {}}',
                   headers=headers, timeout=10)
    assert_problem(r, 415, "unsupported_media_type")
    assert snapshot(plain_server.db) == before


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/json;charset=UTF-8"])
def test_json_with_or_without_a_charset_is_accepted(
        plain_server: ServerProcess, space: str, content_type: str) -> None:
    r = httpx.post(plain_server.url + "/v1/push", content=_body(space),
                   headers={"content-type": content_type}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "applied"
