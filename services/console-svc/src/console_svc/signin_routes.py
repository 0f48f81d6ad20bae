"""Sign-in, its OpenID Connect callback, and sign-out."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from casestream.http.client_address import client_address
from console_svc.sessions import COOKIE
from console_svc.web import local_path, now, templates

router = APIRouter(tags=["sign-in"])
FORM_COOKIE = "console_signin"  # the sign-in form's token (double submit: no session yet)
FLOW_COOKIE = "console_oidc"  # state and PKCE verifier between the redirect and the callback


def _safe_next(target: str | None) -> str:
    return local_path(target) or "/"


def _cookie(response: Response, request: Request, name: str, value: str, **kw: object) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="lax",
        **kw,  # type: ignore[arg-type]
    )


def _pack(flow: dict[str, str]) -> str:
    """JSON in base64url: a cookie value with no quotes or commas to escape."""
    return base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()


def _unpack(value: str) -> dict[str, str]:
    try:
        found = json.loads(base64.urlsafe_b64decode(value.encode()))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _form(request: Request, status_code: int = 200, **context: object) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "form_token": token,
            "next": _safe_next(request.query_params.get("next")),
            "provider": request.app.state.signin.uses_provider,
            **context,
        },
        status_code=status_code,
    )
    _cookie(response, request, FORM_COOKIE, token, path="/sign-in", max_age=3600)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    return _form(request, signed_out=request.query_params.get("signed_out") == "1")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    state = request.app.state
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return _form(request, 403, error="The form had expired. Please sign in again.")
    address = client_address(request, state.settings.trusted_proxy_hops)
    at = now()
    username = username.strip()
    if await state.signin_failures.too_many(username, address, at):
        response = _form(
            request,
            429,
            error="Too many failed sign-ins. Wait a quarter of an hour and try again.",
            username=username,
        )
        response.headers["Retry-After"] = "900"
        return response
    if not username or not state.signin.password_matches(username, password):
        await state.signin_failures.count(username, address, at)
        return _form(request, 401, error="The user name or password is wrong.", username=username)
    secret = await state.signin.open_local(username, at)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _cookie(response, request, COOKIE, secret, path="/", max_age=state.settings.session_ttl_s)
    response.delete_cookie(FORM_COOKIE, path="/sign-in")
    return response


@router.get("/sign-in/provider")
async def sign_in_with_provider(request: Request) -> Response:
    signin = request.app.state.signin
    redirect_uri = request.app.state.settings.oidc_redirect_url or str(
        request.url_for("provider_callback")
    )
    url, flow = await signin.authorization(redirect_uri)
    flow["next"] = _safe_next(request.query_params.get("next"))
    response = RedirectResponse(url, status_code=303)
    _cookie(response, request, FLOW_COOKIE, _pack(flow), path="/sign-in", max_age=600)
    return response


@router.get("/sign-in/callback", name="provider_callback")
async def provider_callback(request: Request) -> Response:
    flow = _unpack(request.cookies.get(FLOW_COOKIE, ""))
    state, code = request.query_params.get("state", ""), request.query_params.get("code")
    if not code or not flow.get("state") or not hmac.compare_digest(state, flow["state"]):
        return _form(request, 400, error="The sign-in could not be completed. Please try again.")
    secret = await request.app.state.signin.open_from_provider(code, flow, now())
    response = RedirectResponse(_safe_next(flow.get("next")), status_code=303)
    _cookie(
        response,
        request,
        COOKIE,
        secret,
        path="/",
        max_age=request.app.state.settings.session_ttl_s,
    )
    response.delete_cookie(FLOW_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Ends the session (also without a valid form token: signing out harms no one)."""
    await request.app.state.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
