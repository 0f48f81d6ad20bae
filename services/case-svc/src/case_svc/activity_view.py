"""What case-svc knows of activities: a projection of ``activity.events`` (id, case, status,
due time) that keeps ``cases.next_activity_at`` and counts overdue work for the dashboard.

``next_activity_at`` is derived data, not a change by anyone: it is written with a plain
UPDATE (no version bump, no history entry, no case event)."""

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from case_svc.tables import cases, metadata
from casestream.contracts.activity import ActivityEnvelope, ActivityState
from casestream.persistence.database import Transaction
from casestream.persistence.upserts import any_of, upsert_newest

case_activities = sa.Table(
    "case_activities",
    metadata,
    sa.Column("activity_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True)),
    # The activity's own updated_at: an older event arriving late does not undo a newer one.
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # Copied from the case (and kept by the trigger on cases): overdue counts need no join.
    sa.Column("instance", sa.Text),
    sa.Column("case_active", sa.Boolean, nullable=False, server_default=sa.false()),
)
# A case's earliest scheduled activity; the overdue ones per instance (index-only).
sa.Index(
    "case_activities_next",
    case_activities.c.case_id,
    case_activities.c.due_at,
    postgresql_where=case_activities.c.status == "scheduled",
)
sa.Index(
    "case_activities_overdue",
    case_activities.c.instance,
    case_activities.c.due_at,
    postgresql_where=sa.and_(
        case_activities.c.status == "scheduled", case_activities.c.case_active
    ),
)
# The trigger on cases copies each case's instance and active flag to its activities.
sa.Index("case_activities_case", case_activities.c.case_id)

SCHEDULED = "scheduled"


async def track_activities(envelopes: list[ActivityEnvelope], tx: Transaction) -> None:
    """Remember each activity's status and due time, and refresh the next activity of the
    cases they are on (or left)."""
    activities = _newest_of_each([e.data.activity for e in envelopes])
    ids = [a.id for a in activities]
    previous = dict(
        (
            await tx.session.execute(
                sa.select(case_activities.c.activity_id, case_activities.c.case_id).where(
                    any_of(case_activities.c.activity_id, ids)
                )
            )
        ).all()
    )
    # Not (or no longer) on a case: nothing of ours to follow, except a case it left.
    gone = [a.id for a in activities if a.case_id is None and a.id in previous]
    if gone:
        await tx.session.execute(
            case_activities.delete().where(any_of(case_activities.c.activity_id, gone))
        )
    on_cases = [a for a in activities if a.case_id is not None]
    if on_cases:
        await _keep(tx, on_cases)
    touched = {a.case_id for a in on_cases} | {
        previous[a.id] for a in activities if a.id in previous and previous[a.id] != a.case_id
    }
    await refresh_next_activity(tx, touched)


async def _keep(tx: Transaction, activities: list[ActivityState]) -> None:
    # Locked as the UPDATE of next_activity_at would, in id order: a concurrent transfer or
    # close of a case waits, so the instance and active flag copied here cannot be stale.
    case_ids = sorted({a.case_id for a in activities})
    facts = {
        row.id: row
        for row in await tx.session.execute(
            sa.select(cases.c.id, cases.c.instance, cases.c.active)
            .where(any_of(cases.c.id, case_ids))
            .order_by(cases.c.id)
            .with_for_update(key_share=True)
        )
    }
    rows = []
    for a in activities:
        case = facts.get(a.case_id)
        rows.append(
            {
                "activity_id": a.id,
                "case_id": a.case_id,
                "instance": case.instance if case else None,
                "case_active": case.active if case else False,
                "status": a.status,
                "due_at": a.due_at,
                "updated_at": a.updated_at,
            }
        )
    # An older event arriving late does not undo a newer one.
    await upsert_newest(
        tx.session,
        case_activities,
        rows,
        key="activity_id",
        newer_by="updated_at",
        same_counts=True,
    )


def _newest_of_each(activities: list[ActivityState]) -> list[ActivityState]:
    """One state per activity: the newest (the later of equals), in id order."""
    newest: dict[uuid.UUID, ActivityState] = {}
    for a in activities:
        if a.id not in newest or newest[a.id].updated_at <= a.updated_at:
            newest[a.id] = a
    return [newest[k] for k in sorted(newest)]


def next_due(case_id: object) -> sa.ScalarSelect:
    return (
        sa.select(sa.func.min(case_activities.c.due_at))
        .where(case_activities.c.case_id == case_id, case_activities.c.status == SCHEDULED)
        .scalar_subquery()
    )


async def refresh_next_activity(tx: Transaction, case_ids: Iterable[object]) -> None:
    """``next_activity_at`` = the earliest due time of each case's scheduled activities, in
    one statement. A case we do not know (yet) is simply not updated."""
    ids = sorted(set(case_ids), key=str)
    if not ids:
        return
    earliest = next_due(cases.c.id)
    await tx.session.execute(
        cases.update()
        .where(any_of(cases.c.id, ids), cases.c.next_activity_at.is_distinct_from(earliest))
        .values(next_activity_at=earliest)
    )


def overdue(now: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Scheduled activities due before ``now``."""
    return sa.and_(case_activities.c.status == SCHEDULED, case_activities.c.due_at < now)
