"""console-svc: the staff console. Pages are rendered on the server from the five services'
APIs, called with the signed-in user's token; the console keeps sessions, no case data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from casestream.http.request_metrics import RequestMetrics
from casestream.logging import get_logger
from casestream.persistence.database import Database
from console_svc import pages
from console_svc.config import Settings
from console_svc.services_api import Refused, ServicesApi, SignInRequired
from console_svc.sessions import SessionStore
from console_svc.signin import SignIn
from console_svc.signin_failures import SigninFailures
from console_svc.signin_routes import router as signin_router
from console_svc.web import BadFormToken, templates

log = get_logger(__name__)

# Pages show one user's cases: no cache keeps them (the back button after signing out
# asks again, and is sent to sign in), no frame shows them, no script of another site runs.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    api = ServicesApi(settings.service_urls, settings.api_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await api.close()
            await database.dispose()

    # Pages, not an API to try out: no /docs (its document stays at /openapi.json).
    app = FastAPI(title="console-svc", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(RequestMetrics, service=settings.service_name)
    app.state.settings = settings
    app.state.database = database
    app.state.api = api
    app.state.sessions = SessionStore(database, settings)
    app.state.signin = SignIn(settings, app.state.sessions)
    app.state.signin_failures = SigninFailures(database, settings)
    if not settings.oidc_issuer and not settings.signing_key:
        log.warning(
            "neither CONSOLE_SVC_SIGNING_KEY nor CONSOLE_SVC_OIDC_ISSUER is set: no one can sign in"
        )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/static/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, error: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = request.headers.get("referer", "/").split(str(request.base_url)[:-1])[-1]
        return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)

    @app.exception_handler(BadFormToken)
    async def bad_form_token(request: Request, error: BadFormToken) -> Response:
        return _problem(
            request,
            403,
            "This form was not sent from your session. Go back, reload the page and try again.",
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        return _problem(request, error.status, str(error))

    @app.exception_handler(httpx.HTTPError)
    async def service_unreachable(request: Request, error: httpx.HTTPError) -> Response:
        # A service that is down or too slow: say so, and that trying again may work.
        log.warning("a service did not answer", error=repr(error), path=request.url.path)
        response = _problem(
            request, 503, "A service this page needs is not answering. Try again in a moment."
        )
        response.headers["Retry-After"] = "10"
        return response

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        try:
            await database.ping()
            checks = {"database": "ok"}
        except Exception as error:
            checks = {"database": f"unreachable: {error!r}"}
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/.well-known/jwks.json", tags=["ops"])
    async def jwks() -> JSONResponse:
        """The public key of the console's tokens (services may take it from here)."""
        return JSONResponse(
            app.state.signin.signer.jwks(), headers={"Cache-Control": "max-age=300"}
        )

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(signin_router)
    for router in pages.routers:
        app.include_router(router)
    return app


def _problem(request: Request, status_code: int, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "problem.html",
        {"message": message, "status": status_code},
        status_code=status_code,
    )
