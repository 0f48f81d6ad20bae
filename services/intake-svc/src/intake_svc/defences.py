"""The abuse defences a public post passes before it is stored: origin, rate limits, field
count, the signed render token, the minimum time and the honeypot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from casestream.http.client_address import client_address
from casestream.persistence.database import Database
from intake_svc.config import Settings
from intake_svc.rate_limits import CLIENT, RateCounter, retry_after
from intake_svc.render_tokens import TokenCheck, check_token
from intake_svc.schemas import Form

TOKEN_FIELD = "_token"
KEY_FIELD = "_idempotency_key"  # the page's own: a double click sends one submission
# The honeypot is named like something a bot wants to fill; the first name the form does not
# use itself.
HONEYPOT_NAMES = ("website", "homepage", "company_url", "fax_number")


def honeypot_name(form: Form) -> str:
    used = {field.name for field in form.fields}
    return next((n for n in HONEYPOT_NAMES if n not in used), "_website")


@dataclass(frozen=True)
class PageInputs:
    """What the page itself adds to a post, taken out of the visitor's answers."""

    token: str
    key: str | None
    honeypot: str


def take_page_inputs(form: Form, raw: dict[str, list[Any]]) -> PageInputs:
    def first(name: str) -> str:
        values = raw.pop(name, [])
        return str(values[0]).strip() if values and values[0] is not None else ""

    key = first(KEY_FIELD)[:200]
    return PageInputs(first(TOKEN_FIELD), key or None, first(honeypot_name(form)))


class PostLimits:
    """Per-client and per-form rate limits, shared by every replica (counted in the database,
    see rate_limits); the numbers are read from settings each time, so they can be changed
    on a running app (tests tighten them)."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.counter = RateCounter(database)

    async def check(self, request: Request, form: Form) -> None:
        """Count this post against its client's limit and its form's (one statement), or
        refuse it with 429 and Retry-After."""
        refusal = await self.counter.check(
            client_address(request, self.settings.trusted_proxy_hops),
            form.slug,
            self.settings.rate_per_client_per_minute,
            self.settings.rate_per_form_per_minute,
        )
        if refusal is None:
            return
        if refusal.kind == CLIENT:
            raise _too_many("too many posts from your address", refusal.wait_s)
        raise _too_many("this form is receiving too many posts", refusal.wait_s)


def _too_many(message: str, wait: float) -> HTTPException:
    seconds = retry_after(wait)
    return HTTPException(
        429, f"{message}; try again in {seconds} s", headers={"Retry-After": seconds}
    )


def check_origin(request: Request, form: Form) -> None:
    """Browsers name the page a post comes from: accept our own pages, the form's allowed
    origins, and clients that name none (scripts, servers)."""
    origin = request.headers.get("origin")
    if origin is None or origin.lower() in form.allowed_origins:
        return
    if origin.partition("://")[2].lower() == request.headers.get("host", "").lower():
        return
    raise HTTPException(403, "this form does not accept posts from that origin")


def most_fields(form: Form) -> int:
    """Twice what an honest page can send: every field (each option of a multiselect), and
    the page's own inputs."""
    honest = sum(len(f.options or ()) if f.type == "multiselect" else 1 for f in form.fields)
    return 2 * (honest + 3)


def refuse_too_many_fields(form: Form, raw: dict[str, list[Any]]) -> None:
    sent = sum(len(values) for values in raw.values())
    if sent > (limit := most_fields(form)):
        raise HTTPException(
            413,
            [
                {
                    "loc": ["body"],
                    "msg": f"too many fields: {sent} values sent, this form takes at most {limit}",
                    "type": "too_many_fields",
                }
            ],
        )


def check_render(settings: Settings, form: Form, page: PageInputs, scripted: bool) -> TokenCheck:
    """A page post must carry its render token. A script that sends an ``Idempotency-Key``
    header (which plain HTML forms cannot) may go without; a token it does send must hold."""
    if scripted and not page.token:
        return TokenCheck()
    return check_token(
        settings.form_secret,
        form.slug,
        page.key or "",
        page.token,
        max_age_s=settings.form_token_max_age_s,
    )


def bot_suspicion(settings: Settings, render: TokenCheck, page: PageInputs) -> str | None:
    """Why this (otherwise valid) post looks like a bot's, or None."""
    if page.honeypot:
        return "honeypot filled"
    if render.rendered_at is not None and time.time() - render.rendered_at < (
        settings.form_min_seconds
    ):
        return "too fast"
    return None


# What a person is told on the page shown again (a forgery is not worth telling apart)...
TOKEN_MESSAGES = {
    "missing": "This form could not be verified. Please check your answers and send it again.",
    "forged": "This form could not be verified. Please check your answers and send it again.",
    "expired": "This page was open too long. Please check your answers and send it again.",
}


def token_error(problem: str) -> dict[str, object]:
    """... and what a script is told."""
    messages = {
        "missing": "send the _token of the rendered page, or an Idempotency-Key header",
        "forged": "this token was not issued for this form and key",
        "expired": "this token is too old: render the form again",
    }
    return {"loc": ["body", TOKEN_FIELD], "msg": messages[problem], "type": f"token_{problem}"}
