"""Staff HTTP: send an email by hand, and the log of emails. An email follows its case's
visibility (``casestream.visibility`` over the read model of cases): a token sees and sends
the emails of the cases it may see; an email on a case not known here yet, admins only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query

from casestream.commands import forbidden
from casestream.http.auth import Staff
from casestream.http.listing import read_page, where_given
from casestream.http.pagination import Cursor, Limit, Page
from casestream.http.state import DB
from casestream.persistence.read_models import case_columns
from casestream.visibility import may_see_case_id, on_visible_case
from notify_svc.composing import message_id_for
from notify_svc.schemas import Email, EmailIn, EmailStatus, template_errors
from notify_svc.tables import cases, emails, templates

router = APIRouter(tags=["emails"])


def _missing(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "missing"}


@router.post("/emails", status_code=202, response_model=Email)
async def send_email(body: EmailIn, staff: Staff, db: DB) -> Any:
    """Queue an email on a case (from a template, or a subject and body_text that may use
    the same tokens); the delivery worker sends it."""
    inline = {"subject": body.subject, "body_text": body.body_text, "body_html": body.body_html}
    if body.template is None:
        if not body.subject:
            raise HTTPException(
                422, [_missing("subject", "a template, or a subject and body_text")]
            )
        if body.body_text is None:
            raise HTTPException(
                422, [_missing("body_text", "a template, or a subject and body_text")]
            )
        if errors := template_errors(inline):
            raise HTTPException(422, errors)
    notification_id = uuid.uuid4()
    async with db.transaction() as tx:
        if not await may_see_case_id(tx.session, staff, body.case_id, case_columns(cases)):
            raise forbidden("this case is outside the token's rights (or not known here yet)")
        if body.template is not None:
            known = await tx.session.execute(
                sa.select(templates.c.name).where(templates.c.name == body.template)
            )
            if known.first() is None:
                raise HTTPException(
                    422,
                    [
                        {
                            "loc": ["body", "template"],
                            "type": "value_error",
                            "msg": f"no template named {body.template!r}",
                        }
                    ],
                )
        row = (
            await tx.session.execute(
                emails.insert()
                .values(
                    id=uuid.uuid4(),
                    notification_id=notification_id,
                    case_id=body.case_id,
                    template=body.template,
                    to_spec=body.to,
                    **(inline if body.template is None else {}),
                    status="queued",
                    message_id=message_id_for(notification_id),
                    next_attempt_at=sa.func.now(),
                    requested_by=f"user:{staff.user}",
                )
                .returning(emails)
            )
        ).one()
    return Email.of(row)


@router.get("/emails", response_model=Page[Email])
async def list_emails(
    staff: Staff,
    db: DB,
    case_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[EmailStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    query = where_given(
        sa.select(emails).where(on_visible_case(staff, emails.c.case_id, case_columns(cases))),
        {emails.c.case_id: case_id, emails.c.status: status},
    )
    order = [emails.c.created_at, emails.c.id]
    async with db.session() as session:
        items, next_cursor = await read_page(session, query, order, cursor, limit)
    return {"items": [Email.of(r) for r in items], "next_cursor": next_cursor}


@router.get("/emails/{email_id}", response_model=Email)
async def get_email(email_id: uuid.UUID, staff: Staff, db: DB) -> Any:
    async with db.session() as session:
        row = (await session.execute(sa.select(emails).where(emails.c.id == email_id))).first()
        if row is None:
            raise HTTPException(404, f"no email {email_id}")
        if not await may_see_case_id(session, staff, row.case_id, case_columns(cases)):
            raise forbidden("this email's case is outside the token's rights")
    return Email.of(row)
