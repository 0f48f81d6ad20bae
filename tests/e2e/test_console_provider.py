"""Signing in through an OpenID Connect provider: the authorization code flow with PKCE, the
provider's access token sent on to the services (which verify it against the provider's
JWKS), and its refresh. The provider lies outside the system, so a small one stands in for
it here; it signs with the stack's console key so that the stack's services accept its
tokens, and it checks the PKCE verifier as a real provider does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from casestream import devinfra
from casestream.testing.services import running
from casestream_local import console_access
from console_svc.config import Settings
from console_svc.main import create_app

from .conftest import url
from .console import browser
from .test_console_signin import console_database

CLIENT_ID, CLIENT_SECRET = "console", "provider-secret-for-tests"


class Provider:
    """Codes, their PKCE challenges, and what was asked of the token endpoint."""

    def __init__(self, private_pem: str, base: str) -> None:
        self.key = load_pem_private_key(private_pem.encode(), password=None)
        self.base = base
        self.codes: dict[str, dict] = {}
        self.grants: list[str] = []

    def access_token(self) -> str:
        now = int(time.time())
        claims = {"iss": "casestream-console", "aud": "casestream", "sub": "pat-0001"}
        claims |= {"preferred_username": "pat", "name": "Pat Provider", "email": "pat@example.org"}
        claims |= {"rights": ["cases:*:all"], "iat": now, "exp": now + 300}
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "provider-1"})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict:
            return {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
            }

        @app.get("/jwks")
        async def jwks() -> dict:
            public = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": "provider-1", "alg": "ES256", "use": "sig"}]}

        @app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert (q["response_type"], q["client_id"]) == ("code", CLIENT_ID)
            assert q["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(12)
            self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
            # The user signs in at the provider (not shown) and is sent back.
            return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}", 302)

        @app.post("/token")
        async def token(
            request: Request,
            grant_type: str = Form(),
            code: str | None = Form(None),
            code_verifier: str | None = Form(None),
            redirect_uri: str | None = Form(None),
            refresh_token: str | None = Form(None),
        ) -> dict:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                raise HTTPException(401, "invalid_client")
            self.grants.append(grant_type)
            if grant_type == "authorization_code":
                issued = self.codes.pop(code or "", None)
                challenge = (
                    base64.urlsafe_b64encode(
                        hashlib.sha256((code_verifier or "").encode()).digest()
                    )
                    .decode()
                    .rstrip("=")
                )
                if issued is None or issued["challenge"] != challenge:
                    raise HTTPException(400, "invalid_grant")
                assert issued["redirect_uri"] == redirect_uri
            elif grant_type != "refresh_token" or refresh_token != "refresh-1":
                raise HTTPException(400, "invalid_grant")
            return {
                "access_token": self.access_token(),
                "token_type": "Bearer",
                "expires_in": 300,
                "refresh_token": "refresh-1",
            }

        return app


@pytest.fixture
async def provider(stack):
    private, _ = console_access.signing_key(stack.config.data)
    port = devinfra.free_ports(1)[0]
    provider = Provider(private, f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
        await asyncio.sleep(0.05)
    yield provider
    server.should_exit = True
    await task


@pytest.fixture
async def console(stack, provider):
    """A console that signs staff in at the provider, on the stack's services and database."""
    info = sa.make_url(str(stack.state.info["database_url"]))
    database = info.set(
        drivername="postgresql+asyncpg", database=stack.config.database_prefix + "console"
    )
    settings = Settings(
        database_url=database.render_as_string(hide_password=False),
        service_urls={n: url(stack, n) for n in ("case-svc", "activity-svc", "notify-svc")},
        oidc_issuer=provider.base,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        jwt_jwks_url=f"{provider.base}/jwks",
        log_json=False,
    )
    app = create_app(settings)
    async with running(app, base_url="http://console.test"):
        yield app


async def _through_the_provider(client: httpx.AsyncClient) -> httpx.Response:
    start = await client.get("/sign-in/provider", params={"next": "/i/cases"})
    assert start.status_code == 303
    async with httpx.AsyncClient() as outside:
        at_provider = await outside.get(start.headers["location"])
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["location"])
    assert back.path == "/sign-in/callback"
    return await client.get(f"{back.path}?{back.query}")


async def test_staff_sign_in_at_the_provider_and_the_services_take_its_token(
    stack, provider, console
):
    async with browser(stack, app=console) as client:
        page = await client.get("/sign-in")
        assert "Sign in with your organisation" in page.text
        done = await _through_the_provider(client)
        assert (done.status_code, done.headers["location"]) == (303, "/i/cases")
        dashboard = await client.get("/i/cases")
        assert dashboard.status_code == 200, dashboard.text
        assert "Pat Provider" in dashboard.text  # from the provider's token's claims
        assert provider.grants == ["authorization_code"]

        # Its token runs out: the console asks the provider for a new one with the refresh token.
        database = console_database(stack)
        await database.execute(
            "UPDATE sessions SET access_expires_at = now() - interval '1 minute' "
            "WHERE \"user\" = 'pat'"
        )
        await database.close()
        assert (await client.get("/i/cases")).status_code == 200
        assert provider.grants == ["authorization_code", "refresh_token"]


async def test_a_code_without_its_pkce_verifier_signs_no_one_in(stack, provider, console):
    async with browser(stack, app=console) as client:
        start = await client.get("/sign-in/provider")
        flow = json.loads(base64.urlsafe_b64decode(client.jar["console_oidc"]))
        flow["verifier"] = "someone-elses-verifier"
        client.jar["console_oidc"] = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
        async with httpx.AsyncClient() as outside:
            at_provider = await outside.get(start.headers["location"])
        back = urlparse(at_provider.headers["location"])
        assert parse_qs(back.query)["state"] == [flow["state"]]
        refused = await client.get(f"{back.path}?{back.query}")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/sign-in")
        assert "console_session" not in client.jar
