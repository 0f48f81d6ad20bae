"""Staff HTTP: activity types, activities (record, edit, cancel, complete, the process
action), "what is due", and a case's timeline. Everything an activity is on follows its
case's visibility (``permissions``). Send ``If-Match: <version>`` with a change to be refused
with 409 instead of overwriting a change you have not seen."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header, HTTPException, Query
from pydantic import AwareDatetime
from sqlalchemy.dialects.postgresql import insert

from activity_svc import activity_actions
from activity_svc.cases import case_named
from activity_svc.due import ACTIVITY_COLUMNS, ACTIVITY_FROM, DueFilters, cursor_of, due_query
from activity_svc.permissions import ensure_can_see_activity, ensure_can_see_case
from activity_svc.schemas import (
    ActivityIn,
    ActivityOut,
    ActivityPatch,
    ActivityTypeIn,
    ActivityTypeOut,
    CompleteIn,
    ProcessActionOut,
)
from activity_svc.tables import activities, activity_types, timeline_at
from casestream.commands import Caller
from casestream.contracts.inputs import Line
from casestream.http.auth import Configurer, Staff, StaffUser
from casestream.http.if_match import expected_version
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of
from casestream.http.state import Service
from casestream.service import Runtime

router = APIRouter()

IfMatch = Annotated[Line | None, Header(description="the activity version you saw")]


@router.post("/activity-types", status_code=201, response_model=ActivityTypeOut)
async def create_activity_type(body: ActivityTypeIn, runtime: Service, staff: Configurer) -> Any:
    async with runtime.database.transaction() as tx:
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
async def list_activity_types(runtime: Service, staff: Staff) -> Any:
    async with runtime.database.session() as session:
        return (
            await session.execute(sa.select(activity_types).order_by(activity_types.c.name))
        ).all()


@router.post("/activities", status_code=201, response_model=ActivityOut)
async def create_activity(body: ActivityIn, runtime: Service, staff: Staff) -> Any:
    async with runtime.database.transaction() as tx:
        activity = await activity_actions.schedule(tx, runtime.settings, _caller(staff), body)
    return await _activity(runtime, activity.id)


@router.get("/activities", response_model=Page[ActivityOut])
async def what_is_due(
    runtime: Service,
    staff: Staff,
    assignee: Annotated[Line | None, Query(description='"me" or a user id')] = None,
    status: Literal["scheduled", "completed", "cancelled"] | None = None,
    due_before: AwareDatetime | None = None,
    due_after: Annotated[
        AwareDatetime | None, Query(description="due at or after this time (what is coming up)")
    ] = None,
    overdue: bool = False,
    type: Line | None = None,
    case_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    """Activities by due time (then id): mine with ``assignee=me``, ``overdue=true`` for
    scheduled ones already due, ``due_after`` for those still to come."""
    filters = DueFilters(
        assignee=staff.user if assignee == "me" else assignee,
        status=status,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
        type=type,
        case_id=case_id,
    )
    async with runtime.database.session() as session:
        rows = (await session.execute(due_query(staff, filters, cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, cursor_of)
    return Page[ActivityOut](items=[_out(r) for r in items], next_cursor=next_cursor)


@router.get("/activities/{activity_id}", response_model=ActivityOut)
async def get_activity(activity_id: uuid.UUID, runtime: Service, staff: Staff) -> Any:
    return await _activity(runtime, activity_id, staff)


@router.patch("/activities/{activity_id}", response_model=ActivityOut)
async def edit_activity(
    activity_id: uuid.UUID,
    body: ActivityPatch,
    runtime: Service,
    staff: Staff,
    if_match: IfMatch = None,
) -> Any:
    async with runtime.database.transaction() as tx:
        await activity_actions.edit(
            tx, runtime.settings, _caller(staff), activity_id, body, _version(if_match)
        )
    return await _activity(runtime, activity_id)


@router.post("/activities/{activity_id}/cancel", response_model=ActivityOut)
async def cancel_activity(
    activity_id: uuid.UUID, runtime: Service, staff: Staff, if_match: IfMatch = None
) -> Any:
    async with runtime.database.transaction() as tx:
        await activity_actions.cancel(
            tx, runtime.settings, _caller(staff), activity_id, _version(if_match)
        )
    return await _activity(runtime, activity_id)


@router.post("/activities/{activity_id}/complete", response_model=ProcessActionOut)
async def complete_activity(
    activity_id: uuid.UUID,
    runtime: Service,
    staff: Staff,
    body: CompleteIn | None = None,
    if_match: IfMatch = None,
) -> Any:
    """Complete the activity; with ``next``, schedule the next action too (the process
    action): both or neither."""
    async with runtime.database.transaction() as tx:
        _, following = await activity_actions.complete(
            tx,
            runtime.settings,
            _caller(staff),
            activity_id,
            body or CompleteIn(),
            _version(if_match),
        )
    return ProcessActionOut(
        completed=await _activity(runtime, activity_id),
        next=await _activity(runtime, following.id) if following else None,
    )


@router.get("/cases/{case_id}/activities", response_model=Page[ActivityOut])
async def case_timeline(
    case_id: uuid.UUID, runtime: Service, staff: Staff, limit: Limit = 50, cursor: Cursor = None
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
    async with runtime.database.session() as session:
        ensure_can_see_case(staff, await case_named(session, case_id))
        rows = (await session.execute(query)).all()
    items, next_cursor = page_of(
        rows, limit, lambda r: [r.timeline_at.isoformat(), r.created_at.isoformat(), str(r.id)]
    )
    return Page[ActivityOut](items=[_out(r) for r in items], next_cursor=next_cursor)


def _caller(staff: StaffUser) -> Caller:
    return Caller(actor=staff.user, staff=staff)


def _version(if_match: str | None) -> int | None:
    return expected_version(if_match, "an activity")


def _out(row: Any) -> ActivityOut:
    return ActivityOut.model_validate(row, from_attributes=True)


async def _activity(
    runtime: Runtime, activity_id: uuid.UUID, staff: StaffUser | None = None
) -> ActivityOut:
    """The activity as answered; with ``staff``, 403 if it is outside their rights."""
    async with runtime.database.session() as session:
        found = (
            await session.execute(
                sa.select(*ACTIVITY_COLUMNS)
                .select_from(ACTIVITY_FROM)
                .where(activities.c.id == activity_id)
            )
        ).first()
        if found is None:
            raise HTTPException(404, "activity not found")
        if staff is not None:
            ensure_can_see_activity(staff, found, await case_named(session, found.case_id))
    return _out(found)
