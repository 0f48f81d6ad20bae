"""Staff endpoints: define forms, list them, list submissions and retry rejected ones.
Defining a form needs ``configure``; any staff token reads forms; submissions follow
``submission_rights``."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from casestream.contracts.inputs import Line
from casestream.http.auth import Configurer, Staff
from casestream.http.pagination import Cursor, Limit, Page, decode_cursor, keyset, page_of
from casestream.http.state import Service
from intake_svc.case_type_fit import case_type_problems
from intake_svc.case_types import case_type_definition
from intake_svc.form_rules import definition_problems
from intake_svc.forms import get_form, list_forms, put_form
from intake_svc.schemas import (
    SLUG,
    ContactOutcome,
    Form,
    FormDefinition,
    Submission,
    SubmissionStatus,
)
from intake_svc.submission_rights import may_see_submission, visible_submissions
from intake_svc.submissions import NotRetryable, list_submissions, retry_submission
from intake_svc.tables import submissions

router = APIRouter(tags=["forms"])

Slug = Annotated[str, Path(pattern=SLUG.pattern, description="lower-case letters, digits, - _")]


@router.put("/forms/{slug}", response_model=Form, responses={201: {"model": Form}})
async def put_form_definition(
    slug: Slug,
    definition: FormDefinition,
    staff: Configurer,
    request: Request,
    runtime: Service,
    response: Response,
) -> Form:
    """Create or replace a form: 201 when new, 200 when replaced. The definition is checked
    against its case type as case-svc last announced it (a type saved a moment ago may not
    have arrived yet: try again)."""
    if problems := definition_problems(definition):
        raise HTTPException(422, problems)
    async with runtime.database.transaction() as tx:
        case_type = await case_type_definition(tx.session, definition.case_type)
        if problems := case_type_problems(definition, case_type):
            raise HTTPException(422, problems)
        form, created = await put_form(tx.session, slug, definition)
    # Committed: this process's next post uses it at once (other replicas: see FormCache).
    request.app.state.forms.remember(form)
    response.status_code = 201 if created else 200
    return form


@router.get("/forms", response_model=Page[Form])
async def forms_page(
    staff: Staff, runtime: Service, limit: Limit = 50, cursor: Cursor = None
) -> Page[Form]:
    after = decode_cursor(cursor)
    async with runtime.database.session() as session:
        rows = await list_forms(session, str(after[0]) if after else None, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda form: [form.slug])
    return Page[Form](items=items, next_cursor=next_cursor)


@router.get("/forms/{slug}", response_model=Form)
async def form_definition(slug: Line, staff: Staff, runtime: Service) -> Form:
    async with runtime.database.session() as session:
        form = await get_form(session, slug)
    if form is None:
        raise HTTPException(404, "no such form")
    return form


@router.get("/submissions", response_model=Page[Submission])
async def submissions_page(
    staff: Staff,
    runtime: Service,
    form: Annotated[Line | None, Query(description="only this form's submissions")] = None,
    status: Annotated[SubmissionStatus | None, Query(description="only this status")] = None,
    outcome: Annotated[
        ContactOutcome | None,
        Query(description="only those whose contact case-svc created, or matched"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Submission]:
    """Newest first: those the token may see (``submission_rights``)."""
    order = [submissions.c.received_at, submissions.c.id]
    after = keyset(order, cursor, descending=True)
    async with runtime.database.session() as session:
        rows = await list_submissions(
            session,
            form=form,
            status=status,
            contact_outcome=outcome,
            after=sa.and_(after, visible_submissions(staff)),
            limit=limit + 1,
        )
    items, next_cursor = page_of(rows, limit, lambda s: [s.received_at.isoformat(), str(s.id)])
    return Page[Submission](items=items, next_cursor=next_cursor)


@router.post(
    "/submissions/{submission_id}/retry",
    response_model=Submission,
    responses={404: {}, 409: {"description": "the submission is not rejected"}},
)
async def retry(submission_id: uuid.UUID, staff: Staff, runtime: Service) -> Submission:
    """Announce a rejected submission again (attempt + 1) once its cause is fixed: case-svc
    tries it afresh, with the form's current mapping. Back to ``received``. A token that may
    not see the submission gets 403 (only ``configure``, ``intake`` and admins see a rejected
    one: it has no case)."""
    async with runtime.database.session() as session:
        if not await may_see_submission(session, staff, submission_id) and (
            await session.scalar(
                sa.select(submissions.c.id).where(submissions.c.id == submission_id)
            )
        ):
            raise HTTPException(403, "this submission is outside the token's rights")
    try:
        retried = await retry_submission(runtime.database, runtime.settings, submission_id)
    except NotRetryable:
        raise HTTPException(409, "only a rejected submission can be retried") from None
    if retried is None:
        raise HTTPException(404, "no such submission")
    return retried
