"""What every page shares: the signed-in user (its token renewed before it runs out), the
services' APIs as that user, the form token every post carries, and rendering."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from console_svc.services_api import CASE, Refused, SignInRequired, UserApi
from console_svc.sessions import COOKIE, SignedIn

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# A token this close to its expiry is renewed before the page calls anything with it.
RENEW_BEFORE = timedelta(seconds=60)


class BadFormToken(Exception):
    """A post without this session's form token: not sent from one of our pages."""


def now() -> datetime:
    return datetime.now(UTC)


async def _signed_in(request: Request) -> SignedIn:
    state = request.app.state
    session = await state.sessions.find(request.cookies.get(COOKIE), now())
    if session is None:
        raise SignInRequired()
    if session.access_expires_at - now() < RENEW_BEFORE:
        session = await state.signin.renew(session)
    return session


@dataclass
class Page:
    """One request of a signed-in user: who, and the APIs as them."""

    request: Request
    session: SignedIn
    api: UserApi

    async def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        instances = context.pop("instances", None)
        if instances is None:
            instances = await self.instances()
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "me": self.session,
                "csrf": self.session.csrf,
                "instances": instances,
                "notice": self.request.query_params.get("notice"),
                **context,
            },
            status_code=status_code,
        )

    async def instances(self) -> list[dict[str, Any]]:
        """The menu: the enabled instances the user may see, in their order."""
        try:
            found = await self.api.get(CASE, "/instances")
        except Refused:
            return []
        staff = self.session.staff
        enabled = [i for i in found if i.get("enabled", True) and staff.access_to(i["name"])]
        return sorted(enabled, key=lambda i: (i.get("weight") or 0, i["label"]))

    async def gather(self, **calls: Any) -> dict[str, Any]:
        """Several API calls at once; a refused one gives its Refused in place of the answer."""
        names = list(calls)
        answers = await asyncio.gather(*calls.values(), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, SignInRequired):
                raise answer
            if isinstance(answer, BaseException) and not isinstance(answer, Refused):
                raise answer
        return dict(zip(names, answers, strict=True))


async def page(request: Request, session: Annotated[SignedIn, Depends(_signed_in)]) -> Page:
    return Page(request, session, request.app.state.api.as_user(session.access_token))


CurrentPage = Annotated[Page, Depends(page)]


async def posted(request: Request, current: CurrentPage) -> Page:
    """A post from one of our pages: it carries the session's form token (CSRF)."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent.encode(), current.session.csrf.encode()):
        raise BadFormToken()
    return current


PostedPage = Annotated[Page, Depends(posted)]


def see_other(path: str, **query: Any) -> RedirectResponse:
    """After a post, to the page that shows its result (a reload posts nothing again)."""
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return RedirectResponse(path + ("?" + urlencode(query) if query else ""), status_code=303)


def local_path(value: str | None) -> str | None:
    """Only a path on this site: never another site (``//host``, ``/\\host``, ``http:``)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _when(value: str | None) -> str:
    """An ISO time as people read it (UTC, to the minute)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%d %b %Y")
    return moment.astimezone(UTC).strftime("%d %b %Y %H:%M")


def _with_cursor(query: dict[str, str], cursor: str) -> str:
    return urlencode({**query, "cursor": cursor})


templates.env.filters["when"] = _when
templates.env.filters["with_cursor"] = _with_cursor
