"""The FastAPI app around a service: lifespan (broker, outbox relay, workers), health,
readiness, metrics, AsyncAPI, and the correlation id of each request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from casestream.http.api_docs import asyncapi_page, document_refusals, serve_swagger_ui
from casestream.http.bad_input import refuse_unstorable_data
from casestream.http.request_metrics import RequestMetrics
from casestream.logging import get_logger
from casestream.service import Runtime
from casestream.shutdown import cancel_and_wait
from casestream.tracing import traced

log = get_logger(__name__)

Worker = Callable[[], Awaitable[None]]


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    workers: Sequence[tuple[str, Worker]] = (),
) -> FastAPI:
    """``workers`` are long-running coroutines (timers, delivery loops) started with the app
    and cancelled at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        tasks = [asyncio.create_task(_forever(name, w), name=name) for name, w in workers]
        app.state.workers = tasks
        try:
            yield
        finally:
            # A worker may finish what it has under way (notify's delivery: one SMTP reply).
            for task in tasks:
                await cancel_and_wait(task, 15, task.get_name())
            await runtime.stop()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    serve_swagger_ui(app, title)
    document_refusals(app)
    app.state.settings = runtime.settings
    app.state.runtime = runtime

    app.add_middleware(CorrelationMiddleware)
    app.add_middleware(RequestMetrics, service=runtime.settings.service_name)
    refuse_unstorable_data(app)  # the safety net; fields are typed (contracts.inputs)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    spec = AsyncAPI(runtime.broker, title=f"{title} messages", version="1")

    @app.get("/asyncapi.json", tags=["ops"])
    async def asyncapi_json() -> Response:
        return Response(spec.to_specification().to_json(), media_type="application/json")

    @app.get("/asyncapi", tags=["ops"], response_class=HTMLResponse)
    async def asyncapi_html() -> str:
        document = json.loads(spec.to_specification().to_json())
        return asyncapi_page(document, f"{title} messages")

    for router in routers:
        app.include_router(router)
    return app


class CorrelationMiddleware:
    """Each request runs as part of the work named by its ``X-Correlation-ID`` (a new id if
    none), and answers with that header. Plain ASGI: no extra task per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-correlation-id", b"").decode("latin-1")[:100]
        with traced(given or str(uuid.uuid4())) as cid:

            async def send_with_id(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-correlation-id", cid.encode("latin-1")),
                    ]
                await send(message)

            await self.app(scope, receive, send_with_id)


async def _forever(name: str, worker: Worker) -> None:
    """Keep a worker running: if it crashes, log and start it again."""
    while True:
        try:
            await worker()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker crashed; restarting", worker=name)
            await asyncio.sleep(1)
