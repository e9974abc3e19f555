"""The demo's notes list settles conflicts by hand (keep mine / keep theirs), so the
server that serves the demo makes that one collection `manual` unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conflicts.test_policies import NOW
from tests.server import ServerProcess

DEMO_NOTES = "demo_notes"


def concurrent_edit(url: str, collection: str) -> dict:
    """Client b edits on version 1 after client a moved the record to version 2."""
    def push(client: str, mid: int, base: int, ms: int, title: str) -> dict:
        # Mids are per client: one range per collection.
        m = {"mid": mid + len(collection) * 10, "space": "d", "collection": collection,
             "id": "n1", "op": "put", "base_version": base,
             "hlc": f"{NOW + ms:013d}:00000:{client}", "data": {"title": title}}
        response = httpx.post(url + "/v1/push", json={"client_id": client, "mutations": [m]},
                              timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["results"][0]

    first = push("a", 1, 0, 1, "first")
    assert first["status"] == "applied", first
    assert push("a", 2, 1, 2, "a's edit")["status"] == "applied"
    return push("b", 1, 1, 3, "b's edit")


def serve(tmp_path: Path, demo: bool, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(tmp_path / "sync.db", demo=demo, env=env).start()


def test_the_demo_server_waits_for_a_person_on_demo_notes_and_merges_todos(
    tmp_path: Path,
) -> None:
    server = serve(tmp_path, demo=True)
    try:
        result = concurrent_edit(server.url, DEMO_NOTES)
        assert result["status"] == "conflict" and result["code"] == "conflict_open"
        assert isinstance(result["conflict_id"], int)
        # The other collections keep the default policy (merge: the later stamp wins).
        assert concurrent_edit(server.url, "todos")["status"] == "merged"
    finally:
        server.stop()


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_without_the_demo_or_with_a_policy_given_demo_notes_is_an_ordinary_collection(
    tmp_path: Path,
) -> None:
    for demo, env in ((False, None), (True, {"SYNCSERVER_POLICIES": f"{DEMO_NOTES}=merge"}),
                      (True, {"SYNCSERVER_STATIC": str(tmp_path)})):
        target = tmp_path / f"run-{demo}-{'-'.join(sorted(env or {}))}"
        target.mkdir()
        server = serve(target, demo=demo, env=env)
        try:
            assert concurrent_edit(server.url, DEMO_NOTES)["status"] == "merged", (demo, env)
        finally:
            server.stop()
