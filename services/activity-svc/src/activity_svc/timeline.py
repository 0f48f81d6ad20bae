"""Applying a case type's activity sets to cases, going on with sequences, and settling a
closing case's scheduled activities. What to schedule when is planned in ``timeline_plan``
(pure); the reference syntax is documented there.

An application is identified by (case, set, trigger): the standard timeline's trigger is the
case's opening, a manual application's is its Idempotency-Key (or a fresh id without one), so
one trigger applies a set once. Each application keeps the definition version it was made
with; a sequence goes on with that version too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from activity_svc.activities import record_activities, save_activity
from activity_svc.case_types import definition_of, on_close_of
from activity_svc.cases import case_named
from activity_svc.tables import activities
from activity_svc.timeline_plan import Dated, PlannedActivity, plan_steps
from activity_svc.timeline_tables import applied_timelines, timeline_steps
from casestream.contracts.activity import ACTIVITY_CANCELLED, ActivityState
from casestream.contracts.case import ActivitySet
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

APPLICATIONS = uuid.UUID("6f1c3e2a-3b7d-4f0e-9a51-0c2d8e4b7a10")
OPENED_TRIGGER = "case.opened"


@dataclass(frozen=True)
class Application:
    id: uuid.UUID
    new: bool  # False: this trigger had applied the set already; nothing was recorded
    activity_ids: list[uuid.UUID]


def application_id(case_id: uuid.UUID, set_name: str, trigger: str) -> uuid.UUID:
    return uuid.uuid5(APPLICATIONS, f"{case_id}:{set_name}:{trigger}")


async def apply_activity_set(
    tx: Transaction,
    settings: ServiceSettings,
    case: Any,
    activity_set: ActivitySet,
    *,
    trigger: str,
    happened_at: datetime | None = None,
    applied_by: str | None = None,
) -> Application:
    """Apply ``activity_set`` of the case's type (at the case's version) to ``case`` (a
    ``cases`` row), once per ``trigger``."""
    now = datetime.now(UTC)
    app_id = application_id(case.id, activity_set.name, trigger)
    inserted = await tx.session.execute(
        _APPLY,
        dict(
            id=app_id,
            case_id=case.id,
            activity_set=activity_set.name,
            case_type=case.case_type,
            case_type_version=case.case_type_version,
            sequence=activity_set.sequence,
            trigger=trigger,
            applied_by=applied_by,
            applied_at=now,
        ),
    )
    if inserted.first() is None:
        return Application(app_id, False, await _activities_of(tx.session, app_id))
    planned = plan_steps(
        activity_set,
        application_id=app_id,
        start_date=case.start_date,
        happened_at=happened_at or now,
        known=await _dated_activities(tx.session, case.id),
    )
    recorded = await _record(tx, settings, case.id, app_id, planned)
    return Application(app_id, True, [a.id for a in recorded])


# Built once, run with parameters: every opened case runs these.
_APPLY = insert(applied_timelines).on_conflict_do_nothing().returning(applied_timelines.c.id)
_STEPS = insert(timeline_steps).on_conflict_do_nothing()
_WHEN = sa.func.coalesce(activities.c.occurred_at, activities.c.due_at)
_DATED = sa.select(activities.c.type, _WHEN).where(
    activities.c.case_id == sa.bindparam("case_id"),
    activities.c.status != "cancelled",
    _WHEN.is_not(None),
)


async def continue_sequence(
    tx: Transaction, settings: ServiceSettings, completed_row: Any
) -> list[ActivityState]:
    """After ``completed_row`` (an activity, with ``id`` and ``occurred_at``) completed: when
    it is a step of a sequence, schedule the next step of the same application. A repeat, a
    closed case or the last step schedules nothing."""
    step = (
        await tx.session.execute(
            sa.select(timeline_steps.c.step_index, applied_timelines)
            .join(applied_timelines, applied_timelines.c.id == timeline_steps.c.applied_timeline_id)
            .where(timeline_steps.c.activity_id == completed_row.id)
        )
    ).first()
    if step is None or not step.sequence:
        return []
    case = await case_named(tx.session, step.case_id)
    if case is None or not case.active:
        return []
    definition = await definition_of(tx.session, step.case_type, step.case_type_version)
    activity_set = next((s for s in definition.activity_sets if s.name == step.activity_set), None)
    following = step.step_index + 1
    if activity_set is None or following >= len(activity_set.activities):
        return []
    if await _step_recorded(tx.session, step.id, following):
        return []
    completed_at = getattr(completed_row, "occurred_at", None) or datetime.now(UTC)
    planned = plan_steps(
        activity_set,
        application_id=step.id,
        start_date=case.start_date,
        happened_at=datetime.now(UTC),
        known=await _dated_activities(tx.session, case.id),
        first=following,
        previous=Dated(activity_set.activities[step.step_index].type, completed_at),
    )
    return await _record(tx, settings, case.id, step.id, planned)


async def settle_closed_case(tx: Transaction, settings: ServiceSettings, case: Any) -> int:
    """The case closed: cancel its scheduled activities when its definition's ``on_close``
    says "cancel" (else they stay). Answers how many were cancelled."""
    if await on_close_of(tx.session, case.case_type, case.case_type_version) != "cancel":
        return 0
    scheduled = (
        await tx.session.execute(
            sa.select(activities)
            .where(activities.c.case_id == case.id, activities.c.status == "scheduled")
            .order_by(activities.c.created_at, activities.c.id)
            .with_for_update()
        )
    ).all()
    for row in scheduled:
        await save_activity(tx, settings, row, {"status": "cancelled"}, ACTIVITY_CANCELLED)
    return len(scheduled)


async def _record(
    tx: Transaction,
    settings: ServiceSettings,
    case_id: uuid.UUID,
    app_id: uuid.UUID,
    planned: list[PlannedActivity],
) -> list[ActivityState]:
    activities_of_steps = await record_activities(
        tx,
        settings,
        [
            dict(
                case_id=case_id,
                type=step.type,
                subject=step.subject,
                status=step.status,
                due_at=step.due_at,
                occurred_at=step.occurred_at,
                source=step.source,
            )
            for step in planned
        ],
    )
    # A step whose activity is None was recorded by a concurrent twin of this work.
    recorded = [(s, a) for s, a in zip(planned, activities_of_steps, strict=True) if a]
    if recorded:
        await tx.session.execute(
            _STEPS,
            [
                dict(activity_id=a.id, applied_timeline_id=app_id, step_index=s.index)
                for s, a in recorded
            ],
        )
    return [a for _, a in recorded]


async def _dated_activities(session: Any, case_id: uuid.UUID) -> list[Dated]:
    rows = await session.execute(_DATED, {"case_id": case_id})
    return [Dated(activity_type, at) for activity_type, at in rows]


async def _activities_of(session: Any, app_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.execute(
        sa.select(timeline_steps.c.activity_id)
        .where(timeline_steps.c.applied_timeline_id == app_id)
        .order_by(timeline_steps.c.step_index)
    )
    return list(rows.scalars())


async def _step_recorded(session: Any, app_id: uuid.UUID, index: int) -> bool:
    found = await session.execute(
        sa.select(timeline_steps.c.activity_id).where(
            timeline_steps.c.applied_timeline_id == app_id, timeline_steps.c.step_index == index
        )
    )
    return found.first() is not None
