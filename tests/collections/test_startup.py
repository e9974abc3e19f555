"""The collections file as a server starts with it: its conflict policies and resolvers
join those of --policies and --resolvers, and a collection the two give different policies
stops the start with one line naming both."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from syncserver.collections.declared import NONE_DECLARED, parse_collections
from syncserver.config.setting_kinds import SettingError
from syncserver.config.settings import Settings
from syncserver.core.service import policies_for
from syncserver.model.policies import Policy, PolicyTable
from tests.collections import upgrades
from tests.core.cli_support import assert_one_line_failure, run_syncserver
from tests.server import ServerProcess, free_port

from .support import write_file

RESOLVER = "tests.collections.upgrades:title_case"


def _table(file: dict, policies: str = "", resolvers: str = "") -> PolicyTable:
    settings = Settings(policies=policies, resolvers=resolvers, demo=False)
    return policies_for(settings, parse_collections(file, "c.json"))


def test_the_files_policies_and_resolvers_join_the_flags() -> None:
    table = _table({"collections": {"todos": {"policy": "lww"}, "notes": {"resolver": RESOLVER},
                                    "plain": {}}},
                   policies="other=manual,plain=server-wins")
    assert table.policy("todos") is Policy.LWW
    assert table.policy("notes") is Policy.CUSTOM and table.resolvers["notes"] is \
        upgrades.title_case
    assert table.policy("other") is Policy.MANUAL
    assert table.policy("plain") is Policy.SERVER_WINS  # the file names no policy for it
    assert table.policy("elsewhere") is Policy.MERGE
    assert policies_for(Settings(demo=False), NONE_DECLARED).by_collection == {}


def test_a_policy_both_give_alike_is_fine() -> None:
    table = _table({"collections": {"todos": {"policy": "lww"}, "notes": {"resolver": RESOLVER}}},
                   policies="todos=lww", resolvers=f"notes={RESOLVER}")
    assert table.policy("todos") is Policy.LWW and table.policy("notes") is Policy.CUSTOM


@pytest.mark.parametrize("file, flags, needles", [
    ({"policy": "lww"}, {"policies": "todos=merge"},
     ["gives policy 'lww'", "--policies / SYNCSERVER_POLICIES gives policy 'merge'"]),
    ({"policy": "lww"}, {"resolvers": f"todos={RESOLVER}"},
     ["gives policy 'lww'", f"--resolvers / SYNCSERVER_RESOLVERS names resolver '{RESOLVER}'"]),
    ({"resolver": RESOLVER}, {"policies": "todos=manual"},
     [f"gives resolver '{RESOLVER}'", "gives policy 'manual'"]),
    ({"resolver": RESOLVER}, {"resolvers": "todos=tests.collections.upgrades:merge_label"},
     [f"gives resolver '{RESOLVER}'", "names resolver 'tests.collections.upgrades:merge_label'"]),
])
def test_a_policy_they_give_differently_is_refused_naming_both(
        file: dict, flags: dict[str, str], needles: list[str]) -> None:
    with pytest.raises(SettingError) as refused:
        _table({"collections": {"todos": file}}, **flags)
    message = str(refused.value)
    for needle in ["collection todos", "the collections file c.json", *needles,
                   "[collections.todos]"]:
        assert needle in message, (needle, message)


def test_serve_refuses_to_start_on_a_disagreement(tmp_path: Path) -> None:
    path = write_file(tmp_path, {"collections": {"todos": {"policy": "lww"}}})
    done = run_syncserver(["serve", "--db", str(tmp_path / "s.db"), "--no-demo", "--port",
                           str(free_port()), "--collections", str(path),
                           "--policies", "todos=merge"])
    assert_one_line_failure(done, str(path), "'lww'", "--policies", "'merge'", status=2)


def test_serve_refuses_a_file_that_changed_into_a_bad_one_since_its_check(
        tmp_path: Path) -> None:
    """What the setting's check read is read again at start: a file broken in between is
    refused, not half used (the two reads are a moment apart; the second is what runs)."""
    from syncserver.core.collections_file import declared_for

    path = write_file(tmp_path, {"collections": {"todos": {}}})
    settings = Settings(collections=str(path))
    path.write_text('{"collections": {"todos": {"policy": "newest"}}}')
    with pytest.raises(SettingError, match=r"SYNCSERVER_COLLECTIONS: .*'newest' is no "):
        declared_for(settings)


def test_a_server_with_a_file_serves_as_before_for_what_the_file_allows(
        tmp_path: Path) -> None:
    """undeclared = "allow", no schema: a push is answered as without a file."""
    path = write_file(tmp_path, {"undeclared": "allow", "collections": {"todos": {}}})
    server = ServerProcess(tmp_path / "s.db", args=("--collections", str(path))).start()
    try:
        response = httpx.post(server.url + "/v1/push", timeout=30, json={
            "client_id": "c1", "mutations": [
                {"mid": 1, "space": "s", "collection": "anything", "id": "a", "op": "put",
                 "base_version": 0, "hlc": "1763756400000:00000:c1", "data": {"x": [1]}}]})
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["status"] == "applied"
    finally:
        server.stop()
