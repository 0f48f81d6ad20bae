"""Staff HTTP: applying an activity set of its case type to a case by hand."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, HTTPException, Response
from pydantic import BaseModel, Field

from activity_svc.case_types import DefinitionNotYetKnown, definition_of
from activity_svc.cases import case_named
from activity_svc.permissions import ensure_can_see_case
from activity_svc.schemas import ActivityOut
from activity_svc.tables import activities, activity_types
from activity_svc.timeline import apply_activity_set
from casestream.contracts.inputs import Line
from casestream.http.auth import Staff
from casestream.http.state import Service

router = APIRouter()


class TimelineIn(BaseModel):
    activity_set: Line = Field(min_length=1)


class TimelineOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    activity_set: str
    case_type: str
    case_type_version: int
    activities: list[ActivityOut]


@router.post("/cases/{case_id}/timelines", status_code=201, response_model=TimelineOut)
async def apply_timeline(
    case_id: uuid.UUID,
    body: TimelineIn,
    runtime: Service,
    response: Response,
    staff: Staff,
    idempotency_key: Annotated[Line | None, Header(max_length=200)] = None,
) -> Any:
    """Apply ``activity_set`` of the case's type, at the case's definition version. With an
    Idempotency-Key, the same key applies it once (a repeat answers 200 with what the first
    scheduled); without one, every request applies it again."""
    async with runtime.database.transaction() as tx:
        # Locked: a case closing at the same moment waits, then settles what this scheduled.
        case = await case_named(tx.session, case_id, lock=True)
        if case is None:
            raise HTTPException(404, "case not found")
        ensure_can_see_case(staff, case)  # 403, as everywhere else
        if not case.active:
            raise HTTPException(409, "the case is closed")
        try:
            definition = await definition_of(tx.session, case.case_type, case.case_type_version)
        except DefinitionNotYetKnown as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "5"}) from error
        activity_set = next(
            (s for s in definition.activity_sets if s.name == body.activity_set), None
        )
        if activity_set is None:
            raise HTTPException(422, [_unknown_set(body.activity_set, case.case_type)])
        trigger = f"key:{idempotency_key}" if idempotency_key else f"manual:{uuid.uuid4()}"
        application = await apply_activity_set(
            tx, runtime.settings, case, activity_set, trigger=trigger, applied_by=staff.user
        )
        rows = await _activities(tx.session, application.activity_ids)
    if not application.new:
        response.status_code = 200
    return TimelineOut(
        id=application.id,
        case_id=case_id,
        activity_set=activity_set.name,
        case_type=case.case_type,
        case_type_version=case.case_type_version,
        activities=[ActivityOut.model_validate(r, from_attributes=True) for r in rows],
    )


def _unknown_set(name: str, case_type: str) -> dict[str, Any]:
    return {
        "loc": ["body", "activity_set"],
        "msg": f"case type {case_type!r} has no activity set {name!r}",
        "type": "value_error",
    }


async def _activities(session: Any, ids: list[uuid.UUID]) -> list[Any]:
    """The activities with their type's label, in the order of ``ids``."""
    rows = await session.execute(
        sa.select(*activities.c, activity_types.c.label.label("type_label"))
        .select_from(
            activities.outerjoin(activity_types, activity_types.c.name == activities.c.type)
        )
        .where(activities.c.id.in_(ids))
    )
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]
