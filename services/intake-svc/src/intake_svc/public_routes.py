"""The public side: the form page, its post, the thank-you page and the submission status.
No staff token here; the submission id in the status URL is the only secret."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from casestream.service import Runtime
from intake_svc.answers import check_answers
from intake_svc.forms import get_form, public_path
from intake_svc.pages import form_page, thanks_page
from intake_svc.request_body import parse_fields, read_limited, refuse_declared_oversize, wants_json
from intake_svc.schemas import Accepted, Form, SubmissionState
from intake_svc.submissions import get_submission, receive_submission

router = APIRouter(tags=["public forms"])

KEY_FIELD = "_idempotency_key"  # the page's hidden input: a double click sends one submission
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


@router.get("/f/{slug}", response_class=HTMLResponse, summary="The form as an HTML page")
async def show_form(slug: str, request: Request) -> HTMLResponse:
    form = await _enabled_form(request, slug)
    page = form_page(form, idempotency_key=str(uuid.uuid4()))
    return HTMLResponse(page, headers=_page_headers(form))


@router.post(
    "/f/{slug}",
    status_code=202,
    response_model=Accepted,
    summary="Submit the form (urlencoded, multipart or JSON)",
    responses={303: {"description": "HTML post accepted"}, 413: {}, 415: {}, 422: {}},
)
async def submit_form(
    slug: str, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    refuse_declared_oversize(request)
    form = await _enabled_form(request, slug)
    _check_origin(request, form)
    raw = await parse_fields(request, await read_limited(request))
    key = idempotency_key or _page_key(raw.pop(KEY_FIELD, []))
    answers = check_answers(form.fields, raw)
    as_json = wants_json(request)
    if answers.errors:
        if as_json:
            raise HTTPException(
                422,
                [
                    {"loc": ["body", name], "msg": msg, "type": kind}
                    for name, (msg, kind) in answers.errors.items()
                ],
            )
        messages = {name: msg for name, (msg, _) in answers.errors.items()}
        page = form_page(form, raw, messages, key or str(uuid.uuid4()))
        return HTMLResponse(page, status_code=422, headers=_page_headers(form))
    runtime = _runtime(request)
    submission = await receive_submission(
        runtime.database, runtime.settings, form, answers.values, key
    )
    status_url = f"{public_path(slug)}/submissions/{submission.id}"
    if not as_json:
        return RedirectResponse(form.success_url or f"{public_path(slug)}/thanks", 303)
    accepted = Accepted(submission_id=submission.id, status_url=status_url)
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=202,
        headers={"Location": status_url, **_cors_headers(request, form)},
    )


@router.options("/f/{slug}", status_code=204, include_in_schema=False)
async def preflight(slug: str, request: Request) -> Response:
    """CORS preflight, for scripts on the form's allowed origins that post JSON."""
    form = await _enabled_form(request, slug)
    headers = _cors_headers(request, form)
    if headers:
        headers["Access-Control-Allow-Methods"] = "POST, GET"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
        headers["Access-Control-Max-Age"] = "600"
    return Response(status_code=204, headers=headers)


@router.get("/f/{slug}/thanks", response_class=HTMLResponse, summary="Thank-you page")
async def thanks(slug: str, request: Request) -> HTMLResponse:
    return HTMLResponse(thanks_page(await _enabled_form(request, slug)))


@router.get(
    "/f/{slug}/submissions/{submission_id}",
    response_model=SubmissionState,
    summary="What became of a submission",
)
async def submission_status(slug: str, submission_id: uuid.UUID, request: Request) -> Response:
    submission = await get_submission(_runtime(request).database, submission_id)
    if submission is None or submission.form != slug:
        raise HTTPException(404, "no such submission")
    async with _runtime(request).database.session() as session:
        form = await get_form(session, slug)
    state = SubmissionState.model_validate(submission.model_dump())
    headers = _cors_headers(request, form) if form else {}
    return JSONResponse(state.model_dump(mode="json"), headers=headers)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _enabled_form(request: Request, slug: str) -> Form:
    async with _runtime(request).database.session() as session:
        form = await get_form(session, slug)
    if form is None or not form.enabled:
        raise HTTPException(404, "no such form")
    return form


def _page_key(values: list[Any]) -> str | None:
    key = str(values[0]).strip() if values else ""
    return key[:200] or None


def _check_origin(request: Request, form: Form) -> None:
    """Browsers name the page a post comes from: accept our own pages, the form's allowed
    origins, and clients that name none (scripts, servers)."""
    origin = request.headers.get("origin")
    if origin is None or origin.lower() in form.allowed_origins:
        return
    if origin.partition("://")[2].lower() == request.headers.get("host", "").lower():
        return
    raise HTTPException(403, "this form does not accept posts from that origin")


def _cors_headers(request: Request, form: Form) -> dict[str, str]:
    origin = (request.headers.get("origin") or "").lower()
    if origin and origin in form.allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _page_headers(form: Form) -> dict[str, str]:
    # Only the allowed origins may frame the form; no-store so a page (and its hidden
    # idempotency key) is not reused from cache for a second, different message.
    ancestors = " ".join(["'self'", *form.allowed_origins])
    return {
        "Content-Security-Policy": f"frame-ancestors {ancestors}",
        "Cache-Control": "no-store",
    }
