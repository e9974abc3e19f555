"""Request latency at /metrics is labelled by route template and method, matched the way
the router matches (a templated route included), never by a raw path or a raw method
name: both come from the client, and every label value is a series kept for ever."""

from __future__ import annotations

import httpx

from tests.helpers import mutation, push

from .support import metric

SECONDS = "syncserver_request_seconds_count"


def test_latency_is_recorded_by_route_template_a_templated_route_included(server_factory):
    server = server_factory(env={"SYNCSERVER_POLICIES": "notes=manual"})
    with httpx.Client(base_url=server.url, timeout=30) as c:
        push(c, "a", [mutation(1, "n1", collection="notes", data={"body": "first"})])
        push(c, "a", [mutation(2, "n1", collection="notes", data={"body": "a"}, base=1)])
        (result,) = push(c, "b", [mutation(1, "n1", collection="notes", data={"body": "b"},
                                           base=1)])["results"]
        assert result["status"] == "conflict", result
        resolve = f"/v1/conflicts/{result['conflict_id']}/resolve"
        assert c.post(resolve, json={"accept": "server"}).status_code == 200
        assert c.post(resolve, json={"accept": "server"}).status_code == 409
        assert c.request("PROPFIND", "/v1/push").status_code == 405
        assert c.get("/no/such/path/8f3a").status_code == 404

        template = 'method="POST",route="/v1/conflicts/{conflict_id}/resolve"'
        assert metric(c, SECONDS, template) == 2
        assert metric(c, SECONDS, 'method="POST",route="/v1/push"') == 3
        assert metric(c, SECONDS, 'method="other",route="/v1/push"') == 1
        text = c.get("/metrics").text
        assert "PROPFIND" not in text and "8f3a" not in text
        assert f'route="{resolve}"' not in text
