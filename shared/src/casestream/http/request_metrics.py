"""Request count and latency of every HTTP route, for /metrics: labelled by the route's
template (``/cases/{case_id}``), never the path, so ids do not make a label each. Plain ASGI,
like the correlation middleware: no task per request."""

from __future__ import annotations

import time
from typing import Any

from casestream.metrics import http_request_seconds, http_requests

UNMATCHED = "unmatched"  # a path no route has (404s): one label for all of them


class RequestMetrics:
    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # what a request that raised counts as

        async def send_noting_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "")
            http_requests.labels(self.service, method, route, str(status[0])).inc()
            http_request_seconds.labels(self.service, method, route).observe(
                time.perf_counter() - started
            )
