"""Staff HTTP: contacts and cases."""

import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Depends

from case_svc.cases import case_state, open_case
from case_svc.permissions import ensure_can_see
from case_svc.schemas import Case, CaseIn, HistoryEntry
from case_svc.tables import case_history
from casestream.http.auth import Staff, requires
from casestream.http.state import Service

router = APIRouter(tags=["cases"])


# add_cases before the body is read; the instance (from the body's case type) after.
@router.post(
    "/cases", status_code=201, response_model=Case, dependencies=[Depends(requires("add_cases"))]
)
async def add_case(body: CaseIn, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
        return await open_case(tx, runtime.settings, body, actor=staff.user, staff=staff)


@router.get("/cases/{case_id}", response_model=Case)
async def get_case(case_id: uuid.UUID, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
        state = await case_state(tx, case_id)
        ensure_can_see(staff, state)
        return state


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry])
async def case_history_of(case_id: uuid.UUID, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
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
