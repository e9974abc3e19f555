"""Schemathesis against the served OpenAPI document, over real HTTP to a real server.

Every operation of /openapi.json is called with requests generated from its schema, valid and
invalid. Each answer must not be a 5xx, must carry a documented status and content type, and
its body must match the documented schema; a request the document calls valid must be taken,
one it calls invalid refused with a 4xx. Derandomized, with a fixed number of examples per
operation, so that CI runs the same requests every time; `FUZZ_EXAMPLES=250` runs more,
`FUZZ_SEED=7` another sequence.
Twice: auth off, and auth on with a valid token of one user on every request.
The WebSocket endpoint is not HTTP request/response: its frames are tested in tests/core;
here it is asked over plain HTTP, which it answers as documented (426, 405 with Allow).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import jsonschema
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.helpers import mutation, push, stamped_by
from tests.server import ServerProcess

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# Unset (CI): derandomized, the same requests every run. Set: another sequence, repeatable.
SEED = os.environ.get("FUZZ_SEED")
# The server's long-poll limit, which the document states as the maximum of `wait`: a
# generated long-poll that finds nothing holds its call this long at most.
MAX_WAIT = "0.1"
MAX_MUTATIONS = 20
SERVER_ENV = {"SYNCSERVER_MAX_WAIT": MAX_WAIT,
              "SYNCSERVER_MAX_BATCH_MUTATIONS": str(MAX_MUTATIONS),
              "SYNCSERVER_POLICIES": "todos=manual"}
# Names the generator tries first (the shortest strings of the name pattern) and ours.
SEEDED_SPACES = ["0", "A", "a", "s1"]
OPEN_CONFLICTS = 12


# Auth on (docs/security.md): an HS256 secret; the fuzz sends one user's valid token, which
# reads and writes the seeded spaces and its own user space, and nothing else.
SECRET = "fuzz-secret-" + "f" * 40
AUTH_ENV = {**SERVER_ENV, "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": SECRET}


def token(sub: str = "fuzzer") -> str:
    now = int(time.time())
    grants = {space: "rw" for space in SEEDED_SPACES} | {"user-{sub}": "rw"}
    return jwt.encode({"sub": sub, "spaces": grants, "iat": now, "exp": now + 3600},
                      SECRET, algorithm="HS256")


AUTH_HEADERS = {"Authorization": f"Bearer {token()}"}


def seed(url: str, headers: dict[str, str]) -> None:
    """Records in a few spaces, so that changes pages are not all empty, and open conflicts
    (ids 1 to OPEN_CONFLICTS), so that a generated resolution can find one."""
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        for space in SEEDED_SPACES:
            push(http, "seeder", [mutation(i, f"r{i}", space=space, collection=collection)
                                  for i, collection in enumerate(["0", "notes", "todos"], 1)])
        ids = [f"c{i}" for i in range(OPEN_CONFLICTS)]
        push(http, "first", [mutation(i, rid) for i, rid in enumerate(ids, 1)])
        results = push(http, "second", [mutation(i, rid) for i, rid in enumerate(ids, 1)])
        assert all(r["code"] == "conflict_open" for r in results["results"]), results


def _served_schema(folder: Path, env: dict[str, str], headers: dict[str, str]
                   ) -> Iterator[schemathesis.BaseSchema]:
    server = ServerProcess(folder / "sync.db", env=env).start()
    try:
        seed(server.url, headers)
        yield schemathesis.openapi.from_url(server.url + "/openapi.json")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def open_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    """The document of a server with auth off (the default)."""
    yield from _served_schema(tmp_path_factory.mktemp("fuzz"), SERVER_ENV, {})


@pytest.fixture(scope="module")
def auth_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    """The document of a server with auth on; requests carry AUTH_HEADERS."""
    yield from _served_schema(tmp_path_factory.mktemp("fuzz-auth"), AUTH_ENV, AUTH_HEADERS)


def _inline(node: Any, schemas: dict[str, Any]) -> Any:
    """The schema with its #/components/schemas references replaced by what they name."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return _inline(schemas[ref.rsplit("/", 1)[1]], schemas)
        return {k: _inline(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, schemas) for v in node]
    return node


def _valid(instance: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def _push_schemas(case: schemathesis.Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the push body without its mutations' schema, one mutation's schema)"""
    schemas = case.operation.schema.raw_schema["components"]["schemas"]
    request = _inline(schemas["PushRequest"], schemas)
    mutation = request["properties"]["mutations"].pop("items")
    return request, mutation


def invalid_mutations_are_rejected(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """negative_data_rejection, except for a mutation of a push: a mutation that does not
    match the document is that mutation's `rejected` result in a 200, never its batch's
    failure (docs/guarantees.md, guarantee 9: one bad mutation never fails a batch). 413
    is the documented refusal of too many mutations (maxItems)."""
    if response.status_code == 413 and response.json()["code"] == "batch_too_large":
        return
    if case.operation.path != "/v1/push" or response.status_code != 200:
        negative_data_rejection(ctx, response, case)
        return
    body, mutation = _push_schemas(case)
    assert _valid(case.body, body), "an invalid push body was answered 200"
    results = response.json()["results"]
    assert len(results) == len(case.body["mutations"]), "not one result per mutation"
    for sent, result in zip(case.body["mutations"], results, strict=True):
        if not _valid(sent, mutation):
            assert result["status"] == "rejected", (sent, result)


def valid_requests_are_taken(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """positive_data_acceptance, except for a cursor: `since` is opaque (only a cursor this
    server issued is one), so a generated one is a 400 bad_cursor, as documented."""
    if (case.operation.path == "/v1/changes" and (case.query or {}).get("since")
            and response.status_code == 400 and response.json()["code"] == "bad_cursor"):
        return
    if (case.operation.path == "/v1/ws" and response.status_code == 426
            and response.json()["code"] == "upgrade_required"):
        return  # a plain HTTP request is never a WebSocket handshake, as documented
    positive_data_acceptance(ctx, response, case)


def call_and_check(case: schemathesis.Case, headers: dict[str, str]) -> None:
    body = case.body if case.operation.path == "/v1/push" else None
    if (isinstance(body, dict) and isinstance(body.get("client_id"), str)
            and isinstance(body.get("mutations"), list)):
        # Stamps of the pushing client, as the protocol requires: else every generated
        # mutation would be rejected as invalid_hlc, and merges and conflicts never run.
        stamped_by(body["client_id"], body["mutations"])
    case.call_and_validate(
        headers=headers,
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
        additional_checks=[invalid_mutations_are_rejected, valid_requests_are_taken],
        timeout=30)


fuzzed = settings(max_examples=EXAMPLES, derandomize=SEED is None, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck))
open_api = schemathesis.pytest.from_fixture("open_schema")
auth_api = schemathesis.pytest.from_fixture("auth_schema")


@open_api.parametrize()
@fuzzed
@hypothesis.seed(int(SEED or 0))
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    call_and_check(case, {})


@auth_api.parametrize()
@fuzzed
@hypothesis.seed(int(SEED or 0))
def test_every_operation_answers_as_documented_with_auth_on(case: schemathesis.Case) -> None:
    call_and_check(case, AUTH_HEADERS)
