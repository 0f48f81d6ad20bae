"""Signing in to the stack's console as a browser would, over HTTP (cookies and form tokens):
for the console's page tests that need no real browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from casestream_local.stack import Stack

from .conftest import CONSOLE_PASSWORD

_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(html: str) -> str:
    """The form token (CSRF) a page's forms carry."""
    found = _TOKEN.search(html)
    assert found, "the page has no form with a form token"
    return found.group(1)


def console_url(stack: Stack) -> str:
    return stack.config.service_url("console-svc")


async def sign_in(client: httpx.AsyncClient, user: str, password: str = CONSOLE_PASSWORD):
    page = await client.get("/sign-in")
    assert page.status_code == 200, page.text
    answer = await client.post(
        "/sign-in",
        data={"username": user, "password": password, "csrf": form_token(page.text), "next": "/"},
    )
    return answer


@asynccontextmanager
async def browser(stack: Stack, app: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies as a browser does on http://127.0.0.1, Secure ones too
    (httpx's jar sends those over https only); ``client.jar`` holds them. With ``app``: that
    console app, in this process, instead of the stack's."""
    jar: dict[str, str] = {}

    async def keep(response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in header.lower() or not value:
                jar.pop(name, None)
            else:
                jar[name] = value

    async def send(request: httpx.Request) -> None:
        if jar:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())

    hooks = {"request": [send], "response": [keep]}
    where: dict[str, Any] = {"base_url": console_url(stack)}
    if app is not None:
        where = {"base_url": "http://console.test", "transport": httpx.ASGITransport(app=app)}
    async with httpx.AsyncClient(timeout=30, event_hooks=hooks, **where) as client:
        client.jar = jar  # type: ignore[attr-defined]
        yield client


@asynccontextmanager
async def signed_in(stack: Stack, user: str = "casey") -> AsyncIterator[httpx.AsyncClient]:
    """A client with a session of ``user`` (a demo user of the local stack)."""
    async with browser(stack) as client:
        answer = await sign_in(client, user)
        assert answer.status_code == 303, answer.text
        assert "console_session" in client.jar, "no session cookie after signing in"
        yield client
