"""What case-svc knows of activities: a projection of ``activity.events`` (id, case, status,
due time) that keeps ``cases.next_activity_at`` and counts overdue work for the dashboard.

``next_activity_at`` is derived data, not a change by anyone: it is written with a plain
UPDATE (no version bump, no history entry, no case event)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID, insert

from case_svc.tables import cases
from casestream.contracts.activity import ActivityEnvelope
from casestream.logging import get_logger
from casestream.persistence.database import Transaction

log = get_logger(__name__)

# Not on case_svc.tables.metadata: migration 0003 creates it.
metadata = sa.MetaData()

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
    sa.Column("case_active", sa.Boolean, nullable=False),
)

SCHEDULED = "scheduled"


async def track_activity(envelope: ActivityEnvelope, tx: Transaction) -> None:
    """Remember the activity's status and due time, and refresh its case's next activity."""
    activity = envelope.data.activity
    previous_case = (
        await tx.session.execute(
            sa.select(case_activities.c.case_id).where(case_activities.c.activity_id == activity.id)
        )
    ).scalar_one_or_none()
    if activity.case_id is None:
        # Not (or no longer) on a case: nothing of ours to follow, except a case it left.
        if previous_case is not None:
            await tx.session.execute(
                case_activities.delete().where(case_activities.c.activity_id == activity.id)
            )
            await refresh_next_activity(tx, previous_case)
        return
    # Locked as the UPDATE of next_activity_at below would: a concurrent transfer or close
    # of the case waits, so the instance and active flag copied here cannot be stale.
    case = (
        await tx.session.execute(
            sa.select(cases.c.instance, cases.c.active)
            .where(cases.c.id == activity.case_id)
            .with_for_update(key_share=True)
        )
    ).first()
    values = {
        "case_id": activity.case_id,
        "instance": case.instance if case else None,
        "case_active": case.active if case else False,
        "status": activity.status,
        "due_at": activity.due_at,
        "updated_at": activity.updated_at,
    }
    upsert = insert(case_activities).values(activity_id=activity.id, **values)
    applied = (
        await tx.session.execute(
            upsert.on_conflict_do_update(
                index_elements=[case_activities.c.activity_id],
                set_=values,
                where=case_activities.c.updated_at <= upsert.excluded.updated_at,
            ).returning(case_activities.c.activity_id)
        )
    ).first()
    if applied is None:
        log.info("stale activity event ignored", activity_id=str(activity.id), type=envelope.type)
        return
    await refresh_next_activity(tx, activity.case_id)
    if previous_case is not None and previous_case != activity.case_id:
        await refresh_next_activity(tx, previous_case)


def next_due(case_id: object) -> sa.ScalarSelect:
    return (
        sa.select(sa.func.min(case_activities.c.due_at))
        .where(case_activities.c.case_id == case_id, case_activities.c.status == SCHEDULED)
        .scalar_subquery()
    )


async def refresh_next_activity(tx: Transaction, case_id: object) -> None:
    """``next_activity_at`` = the earliest due time of the case's scheduled activities. A
    case we do not know (yet) is simply not updated."""
    earliest = next_due(case_id)
    await tx.session.execute(
        cases.update()
        .where(cases.c.id == case_id, cases.c.next_activity_at.is_distinct_from(earliest))
        .values(next_activity_at=earliest)
    )


def overdue(now: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Scheduled activities due before ``now``."""
    return sa.and_(case_activities.c.status == SCHEDULED, case_activities.c.due_at < now)
