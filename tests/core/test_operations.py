"""Operations: health, metrics, the OpenAPI document, documented settings, the CLI."""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import fields
from importlib import metadata

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from syncserver.config.settings import Settings, env_name
from syncserver.model.errors import ErrorCode
from syncserver.ops.app import create_app
from syncserver.ops.cli import build_parser
from tests.helpers import mutation, push
from tests.server import REPO

from .cli_support import syncserver_command
from .conftest import LIMITS
from .support import metric


def test_healthz_answers_ok_with_the_storage_kind_and_the_versions(http):
    r = http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "storage": "sqlite",
                        "version": metadata.version("syncserver"),
                        "protocol": 2}


def test_metrics_count_pushed_mutations(http, space):
    applied = 'status="applied"'
    before = metric(http, "syncserver_mutations_total", applied)
    push(http, "c-metrics-" + space, [mutation(1, "a", space=space),
                                       mutation(2, "b", space=space),
                                       {**mutation(3, "c", space=space), "op": "zap"}])
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "# TYPE syncserver_mutations_total counter" in r.text
    assert metric(http, "syncserver_mutations_total", applied) == before + 2
    assert metric(http, "syncserver_mutations_total", 'status="rejected"') >= 1


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # {id:int} -> {id}


def _app_routes(tmp_path) -> set[tuple[str, str]]:
    app = create_app(Settings(db=str(tmp_path / "routes.db"), demo=False, auth="none"))
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            found |= {(_openapi_path(route.path), m.lower())
                      for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, WebSocketRoute):
            found.add((route.path, "get"))  # the upgrade request
        else:
            assert not isinstance(route, Mount), "a mount besides the demo app"
    return found


def test_openapi_lists_every_http_route_of_the_app(http, tmp_path):
    r = http.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _app_routes(tmp_path)
    assert "x-websocket" in doc["paths"]["/v1/ws"]["get"]


def test_every_setting_is_documented_in_the_configuration_doc():
    doc = REPO / "docs" / "configuration.md"
    assert doc.exists(), "docs/configuration.md is missing"
    text = doc.read_text()
    missing = [f.name for f in fields(Settings)
               if env_name(f.name) not in text or "--" + f.name.replace("_", "-") not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_error_code_is_documented_in_the_protocol():
    text = (REPO / "docs" / "protocol.md").read_text()
    missing = [c.value for c in ErrorCode if not re.search(rf"\b{c.value}\b", text)]
    assert not missing, f"error codes missing from docs/protocol.md: {missing}"


def _subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def _syncserver() -> list[str]:
    return syncserver_command()  # this checkout's code, even when another is installed


@pytest.mark.parametrize("args", [[], *[[name] for name in _subcommands()]],
                         ids=lambda a: " ".join(a) or "main")
def test_cli_help_works(args):
    done = subprocess.run([*_syncserver(), *args, "--help"], check=False,
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: syncserver")
    if not args:
        assert all(name in done.stdout for name in _subcommands())
    if args == ["serve"]:
        flat = " ".join(done.stdout.split())
        assert all("--" + f.name.replace("_", "-") in flat for f in fields(Settings))


def test_cli_refuses_a_bad_duration_with_a_clear_message(tmp_path):
    done = subprocess.run([*_syncserver(), "compact", "--db", str(tmp_path / "x.db"),
                           "--older-than", "soon"], check=False, capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2
    assert "is not a duration" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_openapi_states_the_limits_of_the_server_that_serves_it(limited_server):
    # A client (or a fuzzer) reading the document learns this server's bounds, not defaults
    doc = httpx.get(limited_server.url + "/openapi.json", timeout=30).json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/changes"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == int(LIMITS["SYNCSERVER_MAX_PAGE"])
    assert params["wait"]["maximum"] == float(LIMITS["SYNCSERVER_MAX_WAIT"])
    push = doc["components"]["schemas"]["PushRequest"]["properties"]["mutations"]
    assert push["maxItems"] == int(LIMITS["SYNCSERVER_MAX_BATCH_MUTATIONS"])
