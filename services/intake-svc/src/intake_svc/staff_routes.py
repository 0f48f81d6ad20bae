"""Staff endpoints: define forms, list them, list submissions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from casestream.http.auth import Staff, StaffUser
from casestream.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from intake_svc.form_rules import definition_problems
from intake_svc.forms import get_form, list_forms, put_form
from intake_svc.schemas import SLUG, Form, FormDefinition, Submission
from intake_svc.submissions import list_submissions

router = APIRouter(tags=["forms"])

RIGHT = "intake"
Slug = Annotated[str, Path(pattern=SLUG.pattern, description="lower-case letters, digits, - _")]


@router.put("/forms/{slug}", response_model=Form, responses={201: {"model": Form}})
async def put_form_definition(
    slug: Slug, definition: FormDefinition, staff: Staff, request: Request, response: Response
) -> Form:
    """Create or replace a form: 201 when new, 200 when replaced."""
    _allowed(staff)
    if problems := definition_problems(definition):
        raise HTTPException(422, problems)
    async with request.app.state.runtime.database.transaction() as tx:
        form, created = await put_form(tx.session, slug, definition)
    response.status_code = 201 if created else 200
    return form


@router.get("/forms", response_model=Page[Form])
async def forms_page(
    staff: Staff, request: Request, limit: Limit = 50, cursor: Cursor = None
) -> Page[Form]:
    _allowed(staff)
    after = decode_cursor(cursor)
    async with request.app.state.runtime.database.session() as session:
        rows = await list_forms(session, str(after[0]) if after else None, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda form: [form.slug])
    return Page[Form](items=items, next_cursor=next_cursor)


@router.get("/forms/{slug}", response_model=Form)
async def form_definition(slug: str, staff: Staff, request: Request) -> Form:
    _allowed(staff)
    async with request.app.state.runtime.database.session() as session:
        form = await get_form(session, slug)
    if form is None:
        raise HTTPException(404, "no such form")
    return form


@router.get("/submissions", response_model=Page[Submission])
async def submissions_page(
    staff: Staff,
    request: Request,
    form: Annotated[str | None, Query(description="only this form's submissions")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Submission]:
    """Newest first."""
    _allowed(staff)
    before = _position(decode_cursor(cursor))
    async with request.app.state.runtime.database.session() as session:
        rows = await list_submissions(session, form, before, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda s: [s.received_at.isoformat(), str(s.id)])
    return Page[Submission](items=items, next_cursor=next_cursor)


def _allowed(staff: StaffUser) -> None:
    if not staff.may(RIGHT):
        raise HTTPException(403, f"this token lacks the {RIGHT!r} right")


def _position(values: list[object] | None) -> tuple[datetime, uuid.UUID] | None:
    if values is None:
        return None
    try:
        received_at, submission_id = values
        return datetime.fromisoformat(str(received_at)), uuid.UUID(str(submission_id))
    except ValueError:
        raise HTTPException(
            422,
            [{"loc": ["query", "cursor"], "msg": "stale cursor", "type": "value_error"}],
        ) from None
