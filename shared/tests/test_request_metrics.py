"""Every HTTP request is counted and timed by its route's template and its status: ids in a
path make no label of their own, an unknown path is one label, a request that raised counts
as a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY

from casestream.http.request_metrics import RequestMetrics


def count(route: str, status: str, method: str = "GET") -> float:
    labels = {"service": "metrics-test", "method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("casestream_http_requests_total", labels) or 0.0


def observed(route: str) -> float:
    labels = {"service": "metrics-test", "method": "GET", "route": route}
    return REGISTRY.get_sample_value("casestream_http_request_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_route_template_and_status():
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404)
        if thing_id == "broken":
            raise RuntimeError("a bug")
        return {"id": thing_id}

    app.add_middleware(RequestMetrics, service="metrics-test")
    before = {key: count("/things/{thing_id}", key) for key in ("200", "404", "500")} | {
        "unmatched": count("unmatched", "404"),
        "timed": observed("/things/{thing_id}"),
    }
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for thing_id in ("a", "b", "c", "missing", "broken"):
            await client.get(f"/things/{thing_id}")
        await client.get("/elsewhere/1")
        await client.get("/elsewhere/2")

    assert count("/things/{thing_id}", "200") - before["200"] == 3
    assert count("/things/{thing_id}", "404") - before["404"] == 1
    assert count("/things/{thing_id}", "500") - before["500"] == 1
    assert count("unmatched", "404") - before["unmatched"] == 2
    assert observed("/things/{thing_id}") - before["timed"] == 5
    assert (
        REGISTRY.get_sample_value(
            "casestream_http_requests_total",
            {"service": "metrics-test", "method": "GET", "route": "/things/a", "status": "200"},
        )
        is None
    )
