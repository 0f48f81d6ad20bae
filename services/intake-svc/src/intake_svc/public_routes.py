"""The public side: the form page, its post, the thank-you page and the submission status.
No staff token here; the submission id in the status URL is the only secret."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from casestream.contracts.inputs import Line
from casestream.service import Runtime
from intake_svc.answers import Answers, check_answers
from intake_svc.config import Settings
from intake_svc.defences import (
    TOKEN_MESSAGES,
    PageInputs,
    PostLimits,
    bot_suspicion,
    check_origin,
    check_render,
    refuse_too_many_fields,
    take_page_inputs,
    token_error,
)
from intake_svc.forms import FormCache, public_path
from intake_svc.pages import form_page, thanks_page
from intake_svc.render_tokens import TokenCheck, sign
from intake_svc.request_body import parse_fields, read_limited, refuse_declared_oversize, wants_json
from intake_svc.schemas import Accepted, Form, SubmissionState
from intake_svc.submissions import get_submission, receive_submission

router = APIRouter(tags=["public forms"])

# A post whose form keeps changing under it (a save between each check) is given up on.
MAX_DEFINITION_CHANGES = 3

IdempotencyKey = Annotated[
    Line | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


@router.get("/f/{slug}", response_class=HTMLResponse, summary="The form as an HTML page")
async def show_form(slug: Line, request: Request) -> HTMLResponse:
    form = await _enabled_form(request, slug)
    key = str(uuid.uuid4())
    token = sign(_settings(request).form_secret, slug, key)
    return HTMLResponse(
        form_page(form, idempotency_key=key, token=token), headers=_page_headers(form)
    )


@router.post(
    "/f/{slug}",
    status_code=202,
    response_model=Accepted,
    summary="Submit the form (urlencoded, multipart or JSON)",
    description="A page post carries the page's `_token` and `_idempotency_key`; a script "
    "sends an `Idempotency-Key` header instead of the token.",
    responses={
        303: {"description": "HTML post accepted"},
        403: {},
        413: {},
        415: {},
        422: {},
        429: {"description": "rate limited; see Retry-After"},
    },
)
async def submit_form(
    slug: Line, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    settings, limits = _settings(request), _limits(request)
    refuse_declared_oversize(request, settings.max_body_bytes)
    form = await _enabled_form(request, slug)
    check_origin(request, form)
    await limits.check(request, form)  # the client's and the form's, in one statement
    body = await read_limited(request, settings.max_body_bytes)
    for _ in range(MAX_DEFINITION_CHANGES):
        raw = await parse_fields(request, body)
        refuse_too_many_fields(form, raw)
        page = take_page_inputs(form, raw)
        render = check_render(settings, form, page, scripted=idempotency_key is not None)
        answers = check_answers(form.fields, raw)
        if render.problem or answers.errors:
            return _refused(request, settings, form, raw, answers, render, page)
        submission_id = await receive_submission(
            _runtime(request).database,
            settings,
            form,
            answers.values,
            idempotency_key or page.key,
            suspected_bot=bot_suspicion(settings, render, page),
        )
        if submission_id is not None:
            return _accepted(request, form, submission_id)
        # Changed (elsewhere) since it was cached: the post is checked against it as it is.
        form = await _forms(request).load(slug)
        if form is None or not form.enabled:
            raise HTTPException(404, "no such form")
        check_origin(request, form)
    raise HTTPException(503, "this form is being changed; send it again", {"Retry-After": "1"})


def _refused(
    request: Request,
    settings: Settings,
    form: Form,
    raw: dict[str, list[object]],
    answers: Answers,
    render: TokenCheck,
    page: PageInputs,
) -> Response:
    """422: as JSON naming each field (``_token`` for the render token), or the page again
    with the visitor's values and a message per field."""
    if wants_json(request):
        errors = [
            {"loc": ["body", name], "msg": msg, "type": kind}
            for name, (msg, kind) in answers.errors.items()
        ]
        if render.problem:
            errors.insert(0, token_error(render.problem))
        raise HTTPException(422, errors)
    key = page.key or str(uuid.uuid4())
    # A good token is kept, so the minimum time still counts from the first render.
    good = page.token and not render.problem
    token = page.token if good else sign(settings.form_secret, form.slug, key)
    html = form_page(
        form,
        raw,
        {name: msg for name, (msg, _) in answers.errors.items()},
        key,
        token,
        notice=TOKEN_MESSAGES[render.problem] if render.problem else None,
    )
    return HTMLResponse(html, status_code=422, headers=_page_headers(form))


def _accepted(request: Request, form: Form, submission_id: uuid.UUID) -> Response:
    if not wants_json(request):
        return RedirectResponse(form.success_url or f"{public_path(form.slug)}/thanks", 303)
    status_url = f"{public_path(form.slug)}/submissions/{submission_id}"
    # What Accepted says, built directly (nothing to validate).
    return JSONResponse(
        {"submission_id": str(submission_id), "status_url": status_url},
        status_code=202,
        headers={"Location": status_url, **_cors_headers(request, form)},
    )


@router.options("/f/{slug}", status_code=204, include_in_schema=False)
async def preflight(slug: Line, request: Request) -> Response:
    """CORS preflight, for scripts on the form's allowed origins that post JSON."""
    form = await _enabled_form(request, slug)
    headers = _cors_headers(request, form)
    if headers:
        headers["Access-Control-Allow-Methods"] = "POST, GET"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
        headers["Access-Control-Max-Age"] = "600"
    return Response(status_code=204, headers=headers)


@router.get("/f/{slug}/thanks", response_class=HTMLResponse, summary="Thank-you page")
async def thanks(slug: Line, request: Request) -> HTMLResponse:
    return HTMLResponse(thanks_page(await _enabled_form(request, slug)))


@router.get(
    "/f/{slug}/submissions/{submission_id}",
    response_model=SubmissionState,
    summary="What became of a submission: status, case reference, why it was rejected",
)
async def submission_status(slug: Line, submission_id: uuid.UUID, request: Request) -> Response:
    submission = await get_submission(_runtime(request).database, submission_id)
    if submission is None or submission.form != slug:
        raise HTTPException(404, "no such submission")
    form = await _forms(request).get(slug)
    headers = _cors_headers(request, form) if form else {}
    return JSONResponse(submission.public().model_dump(mode="json"), headers=headers)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _limits(request: Request) -> PostLimits:
    return request.app.state.post_limits


def _forms(request: Request) -> FormCache:
    return request.app.state.forms


async def _enabled_form(request: Request, slug: str) -> Form:
    form = await _forms(request).get(slug)
    if form is None or not form.enabled:
        raise HTTPException(404, "no such form")
    return form


def _cors_headers(request: Request, form: Form) -> dict[str, str]:
    origin = (request.headers.get("origin") or "").lower()
    if origin and origin in form.allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _page_headers(form: Form) -> dict[str, str]:
    # Only the allowed origins may frame the form; no-store so a page (and its hidden
    # idempotency key and token) is not reused from cache for a second, different message.
    ancestors = " ".join(["'self'", *form.allowed_origins])
    return {
        "Content-Security-Policy": f"frame-ancestors {ancestors}",
        "Cache-Control": "no-store",
    }
