"""Staff HTTP: activity types, activities, and a case's timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.dialects.postgresql import insert

from activity_svc.activities import activity_type_exists, record_activity
from activity_svc.schemas import ActivityIn, ActivityOut, ActivityTypeIn, ActivityTypeOut
from activity_svc.tables import activities, activity_types, timeline_at
from casestream.http.auth import Staff
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of

router = APIRouter()

# An activity with the label of its type.
ACTIVITY_COLUMNS = [*activities.c, activity_types.c.label.label("type_label")]
ACTIVITY_FROM = activities.outerjoin(activity_types, activity_types.c.name == activities.c.type)


@router.post("/activity-types", status_code=201, response_model=ActivityTypeOut)
async def create_activity_type(body: ActivityTypeIn, request: Request, staff: Staff) -> Any:
    async with request.app.state.runtime.database.transaction() as tx:
        created = (
            await tx.session.execute(
                insert(activity_types)
                .values(name=body.name, label=body.label, system=False)
                .on_conflict_do_nothing()
                .returning(*activity_types.c)
            )
        ).first()
    if created is None:
        raise HTTPException(409, f"activity type {body.name!r} already exists")
    return created


@router.get("/activity-types", response_model=list[ActivityTypeOut])
async def list_activity_types(request: Request, staff: Staff) -> Any:
    async with request.app.state.runtime.database.session() as session:
        return (
            await session.execute(sa.select(activity_types).order_by(activity_types.c.name))
        ).all()


@router.post("/activities", status_code=201, response_model=ActivityOut)
async def create_activity(body: ActivityIn, request: Request, staff: Staff) -> Any:
    runtime = request.app.state.runtime
    values = body.model_dump()
    if body.status == "completed" and body.occurred_at is None:
        values["occurred_at"] = datetime.now(UTC)
    async with runtime.database.transaction() as tx:
        if not await activity_type_exists(tx.session, body.type):
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "type"],
                        "msg": f"unknown activity type {body.type!r}",
                        "type": "value_error",
                    }
                ],
            )
        activity = await record_activity(tx, runtime.settings, **values)
    return await _activity(request, activity.id)


@router.get("/activities/{activity_id}", response_model=ActivityOut)
async def get_activity(activity_id: uuid.UUID, request: Request, staff: Staff) -> Any:
    return await _activity(request, activity_id)


@router.get("/cases/{case_id}/activities", response_model=Page[ActivityOut])
async def case_timeline(
    case_id: uuid.UUID, request: Request, staff: Staff, limit: Limit = 50, cursor: Cursor = None
) -> Any:
    """The case's activities in timeline order: when they happened or fall due, then when
    they were recorded."""
    order = [timeline_at, activities.c.created_at, activities.c.id]
    query = (
        sa.select(*ACTIVITY_COLUMNS, timeline_at.label("timeline_at"))
        .select_from(ACTIVITY_FROM)
        .where(activities.c.case_id == case_id, keyset(order, cursor))
        .order_by(*order)
        .limit(limit + 1)
    )
    async with request.app.state.runtime.database.session() as session:
        rows = (await session.execute(query)).all()
    items, next_cursor = page_of(
        rows, limit, lambda r: [r.timeline_at.isoformat(), r.created_at.isoformat(), str(r.id)]
    )
    return Page[ActivityOut](
        items=[ActivityOut.model_validate(r, from_attributes=True) for r in items],
        next_cursor=next_cursor,
    )


async def _activity(request: Request, activity_id: uuid.UUID) -> Any:
    async with request.app.state.runtime.database.session() as session:
        found = (
            await session.execute(
                sa.select(*ACTIVITY_COLUMNS)
                .select_from(ACTIVITY_FROM)
                .where(activities.c.id == activity_id)
            )
        ).first()
    if found is None:
        raise HTTPException(404, "activity not found")
    return found
