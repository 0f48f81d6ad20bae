"""Staff HTTP: contacts and cases."""

import uuid
from datetime import date
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from case_svc.cases import case_state, open_case
from case_svc.permissions import ensure_can_see
from case_svc.schemas import Case, CaseIn, HistoryEntry
from case_svc.tables import case_clients, case_history, cases
from casestream.http.auth import Staff
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of

router = APIRouter(tags=["cases"])


@router.post("/cases", status_code=201, response_model=Case)
async def add_case(body: CaseIn, staff: Staff, request: Request):
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as tx:
        return await open_case(tx, runtime.settings, body, actor=staff.user, staff=staff)


@router.get("/cases/{case_id}", response_model=Case)
async def get_case(case_id: uuid.UUID, staff: Staff, request: Request):
    async with request.app.state.runtime.database.transaction() as tx:
        state = await case_state(tx, case_id)
        ensure_can_see(staff, state)
        return state


@router.get("/cases", response_model=Page[Case])
async def list_cases(
    staff: Staff,
    request: Request,
    case_type: str | None = None,
    status: str | None = None,
    client_id: uuid.UUID | None = None,
    active: Literal["true", "false", "all"] = "true",
    opened_from: date | None = None,
    opened_to: date | None = None,
    q: str | None = Query(default=None, max_length=200),
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Newest first. The full filter set and permissions come with the case lifecycle work."""
    order = [cases.c.created_at.desc(), cases.c.id.desc()]
    query = sa.select(cases.c.id, cases.c.created_at)
    query = query.where(keyset([cases.c.created_at, cases.c.id], cursor, descending=True))
    if active != "all":
        query = query.where(cases.c.active.is_(active == "true"))
    if case_type:
        query = query.where(cases.c.case_type == case_type)
    if status:
        query = query.where(cases.c.status == status)
    if client_id:
        query = query.where(
            cases.c.id.in_(
                sa.select(case_clients.c.case_id).where(case_clients.c.contact_id == client_id)
            )
        )
    if opened_from:
        query = query.where(cases.c.start_date >= opened_from)
    if opened_to:
        query = query.where(cases.c.start_date <= opened_to)
    if q:
        like = f"%{q}%"
        query = query.where(sa.or_(cases.c.subject.ilike(like), cases.c.details.ilike(like)))
    query = query.order_by(*order).limit(limit + 1)
    async with request.app.state.runtime.database.transaction() as tx:
        rows = (await tx.session.execute(query)).all()
        items, next_cursor = page_of(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
        return {"items": [await case_state(tx, r.id) for r in items], "next_cursor": next_cursor}


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry])
async def case_history_of(case_id: uuid.UUID, staff: Staff, request: Request):
    async with request.app.state.runtime.database.transaction() as tx:
        ensure_can_see(staff, await case_state(tx, case_id))  # 404 or 403 first
        s = tx.session
        rows = (
            await s.execute(
                sa.select(case_history)
                .where(case_history.c.case_id == case_id)
                .order_by(case_history.c.id)
            )
        ).all()
    return [r._asdict() for r in rows]
