"""Signing in to the console and out again, as a browser does (cookies, form tokens): the
session cookie is HttpOnly, Secure and SameSite; pages are never cached; a wrong password,
a form from elsewhere and too many failures are refused; the access token is renewed before
it runs out; signing out ends the session on the server."""

from __future__ import annotations

import asyncio

import asyncpg
import jwt
import sqlalchemy as sa

from .conftest import CONSOLE_PASSWORD
from .console import browser, form_token, sign_in, signed_in


async def test_a_caseworker_signs_in_and_out(stack):
    async with browser(stack) as client:
        first = await client.get("/i/cases/cases?view=mine")
        assert first.status_code == 303
        assert first.headers["location"] == "/sign-in?next=/i/cases/cases%3Fview%3Dmine"

        answer = await sign_in(client, "casey")
        assert answer.status_code == 303
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("console_session=")
        )
        assert {"httponly", "secure", "samesite=lax", "path=/"} <= {
            part.strip().lower() for part in cookie.split(";")
        }
        page = await client.get("/i/cases")
        assert page.status_code == 200
        assert "Casey Worker" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        secret = client.jar["console_session"]

        out = await client.post("/sign-out", data={"csrf": form_token(page.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/sign-in?signed_out=1")
        assert "console_session" not in client.jar
    # The cookie kept from before signing out opens nothing: the session is gone.
    async with browser(stack) as client:
        client.jar["console_session"] = secret
        again = await client.get("/i/cases")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/sign-in")


async def test_a_wrong_password_or_a_foreign_form_signs_no_one_in(stack):
    async with browser(stack) as client:
        wrong = await sign_in(client, "casey", "not the password")
        assert wrong.status_code == 401
        assert "The user name or password is wrong." in wrong.text
        nobody = await sign_in(client, "nobody-at-all", CONSOLE_PASSWORD)
        assert nobody.status_code == 401
        assert "console_session" not in client.jar
    # A form posted from another site has no sign-in form cookie to match.
    async with browser(stack) as client:
        forged = await client.post(
            "/sign-in",
            data={"username": "casey", "password": CONSOLE_PASSWORD, "csrf": "guessed"},
        )
        assert forged.status_code == 403
        assert "console_session" not in client.jar


async def test_too_many_failures_lock_a_user_out_even_with_the_right_password(stack):
    async with browser(stack) as client:
        for _ in range(5):
            assert (await sign_in(client, "lockout", "guess")).status_code == 401
        locked = await sign_in(client, "lockout", CONSOLE_PASSWORD)
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "900"
        assert "console_session" not in client.jar
    # Others sign in as before.
    async with signed_in(stack, "olive") as client:
        assert (await client.get("/")).status_code == 303


async def test_the_access_token_is_renewed_before_it_runs_out(stack):
    async with signed_in(stack, "casey") as client:
        database = console_database(stack)
        await database.execute(
            "UPDATE sessions SET access_expires_at = now() - interval '1 minute', "
            "access_token = 'no longer valid'"
            " WHERE \"user\" = 'casey'"
        )
        page = await client.get("/i/cases")
        assert page.status_code == 200, page.text
        token = await database.fetchval(
            "SELECT access_token FROM sessions WHERE \"user\" = 'casey' "
            "ORDER BY access_expires_at DESC LIMIT 1"
        )
        await database.close()
        # The new token is one the console's published key verifies, with casey's rights.
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
        key = jwt.PyJWK.from_dict(keys[0]).key
        claims = jwt.decode(token, key, algorithms=["ES256"], audience="casestream")
        assert (claims["sub"], claims["iss"]) == ("casey", "casestream-console")
        assert claims["rights"] == ["cases:*:all", "add_cases"]


def console_database(stack):
    info = sa.make_url(str(stack.state.info["database_url"]))
    url = info.set(drivername="postgresql", database=stack.config.database_prefix + "console")
    return _Connection(url.render_as_string(hide_password=False))


class _Connection:
    """asyncpg connection opened on first use (one statement or two per test)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = None

    async def _get(self):
        if self.connection is None:
            self.connection = await asyncpg.connect(self.url)
        return self.connection

    async def execute(self, *args):
        return await (await self._get()).execute(*args)

    async def fetchval(self, *args):
        return await (await self._get()).fetchval(*args)

    async def close(self):
        if self.connection is not None:
            await asyncio.wait_for(self.connection.close(), 10)
