"""What one does to an activity: schedule (or log) it, edit it, cancel it, complete it, and
the process action (complete it and schedule the next one). The same functions serve HTTP
and ``activity.commands``; each runs inside the caller's transaction, so a refusal anywhere
(a 422 on the next activity, say) leaves nothing done."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from activity_svc.activities import (
    ensure_type_exists,
    lock_activity,
    record_activity,
    save_activity,
)
from activity_svc.cases import case_named
from activity_svc.permissions import ensure_can_see_activity, ensure_can_see_case
from activity_svc.schemas import ActivityIn, ActivityPatch, CompleteIn
from activity_svc.timeline import continue_sequence
from casestream.commands import Caller, conflict, ensure_version, invalid
from casestream.contracts.activity import (
    ACTIVITY_CANCELLED,
    ACTIVITY_COMPLETED,
    ACTIVITY_UPDATED,
    ActivityState,
)
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

# Fields a PATCH may not empty: they always have a value.
NOT_NULL = ("priority",)


async def schedule(
    tx: Transaction,
    settings: ServiceSettings,
    caller: Caller,
    body: ActivityIn,
    *,
    source: str | None = None,
    where: tuple[str, ...] = ("body",),
) -> ActivityState | None:
    """Record a new activity (scheduled, or completed: logged after the fact). None when
    ``source`` was recorded already."""
    await ensure_type_exists(tx.session, body.type, (*where, "type"))
    if body.case_id is not None and caller.staff is not None:
        ensure_can_see_case(caller.staff, await case_named(tx.session, body.case_id))
    values = body.model_dump()
    if body.status == "completed" and body.occurred_at is None:
        values["occurred_at"] = datetime.now(UTC)
    return await record_activity(tx, settings, **values, created_by=caller.actor, source=source)


async def edit(
    tx: Transaction,
    settings: ServiceSettings,
    caller: Caller,
    activity_id: uuid.UUID,
    patch: ActivityPatch,
    version: int | None = None,
) -> Any:
    """Change what was sent: text, priority, location, attachments; ``due_at`` reschedules
    (a scheduled activity only); ``assignee_ids`` reassigns."""
    row = await _open(tx, caller, activity_id, version)
    values = patch.model_dump(exclude_unset=True)
    for name in NOT_NULL:
        if name in values and values[name] is None:
            raise invalid(("body", name), f"{name} cannot be null")
    for name in ("attachments", "assignee_ids", "with_contact_ids"):
        if name in values and values[name] is None:
            values[name] = []
    if "due_at" in values and values["due_at"] != row.due_at and row.status != "scheduled":
        raise conflict(f"the activity is {row.status}: only a scheduled one can be rescheduled")
    return await save_activity(tx, settings, row, values, ACTIVITY_UPDATED)


async def cancel(
    tx: Transaction,
    settings: ServiceSettings,
    caller: Caller,
    activity_id: uuid.UUID,
    version: int | None = None,
) -> Any:
    row = await _open(tx, caller, activity_id, version)
    _must_be_scheduled(row, "cancel")
    return await save_activity(tx, settings, row, {"status": "cancelled"}, ACTIVITY_CANCELLED)


async def complete(
    tx: Transaction,
    settings: ServiceSettings,
    caller: Caller,
    activity_id: uuid.UUID,
    body: CompleteIn,
    version: int | None = None,
) -> tuple[Any, ActivityState | None]:
    """Complete the activity; with ``next``, schedule the next one on the same case (the
    process action). Both or neither: they share the caller's transaction."""
    row = await _open(tx, caller, activity_id, version)
    _must_be_scheduled(row, "complete")
    values: dict[str, Any] = {
        "status": "completed",
        "occurred_at": body.occurred_at or datetime.now(UTC),
    }
    for name in ("outcome", "details", "duration_minutes"):
        if getattr(body, name) is not None:
            values[name] = getattr(body, name)
    completed = await save_activity(tx, settings, row, values, ACTIVITY_COMPLETED)
    # A timeline in sequence schedules its next step when this one completes.
    await continue_sequence(tx, settings, completed)
    if body.next is None:
        return completed, None
    following = ActivityIn(
        case_id=row.case_id,
        type=body.next.type,
        subject=body.next.subject,
        details=body.next.details,
        due_at=body.next.due_at,
        priority=body.next.priority,
        assignee_ids=row.assignee_ids if body.next.assignee_ids is None else body.next.assignee_ids,
        with_contact_ids=row.with_contact_ids,
    )
    # Caller's rights on the case were checked by _open: schedule as a trusted caller.
    scheduled = await schedule(
        tx, settings, Caller(caller.actor), following, where=("body", "next")
    )
    return completed, scheduled


async def _open(
    tx: Transaction, caller: Caller, activity_id: uuid.UUID, version: int | None
) -> Any:
    """The activity, locked; 403 if the calling staff user may not see it."""
    row = await lock_activity(tx, activity_id)
    if caller.staff is not None:
        ensure_can_see_activity(caller.staff, row, await case_named(tx.session, row.case_id))
    ensure_version("activity", row.version, version)
    return row


def _must_be_scheduled(row: Any, action: str) -> None:
    if row.status != "scheduled":
        raise conflict(f"cannot {action} the activity: it is already {row.status}")
