"""What activity-svc says on ``activity.events``: the shared contract (``ActivityEvent``, whose
``ActivityState`` carries every field this service keeps). Every event carries the full
state and what changed."""

from __future__ import annotations

from typing import Any

from casestream.contracts.activity import (
    ACTIVITY_CANCELLED,
    ACTIVITY_COMPLETED,
    ACTIVITY_SCHEDULED,
    ActivityEvent,
    ActivityState,
)
from casestream.contracts.case import Change
from casestream.envelope import Envelope, new_envelope
from casestream.topics import case_key

EVENT_OF_STATUS = {
    "scheduled": ACTIVITY_SCHEDULED,
    "completed": ACTIVITY_COMPLETED,
    "cancelled": ACTIVITY_CANCELLED,
}


def record_of(row: Any) -> ActivityState:
    return ActivityState.model_validate(row, from_attributes=True)


def created_envelope(service: str, activity: ActivityState) -> Envelope[Any]:
    """``activity.scheduled`` or ``activity.completed`` for a new activity, keyed by its case
    (or by itself when it is on no case)."""
    return changed_envelope(service, activity, EVENT_OF_STATUS[activity.status], {})


def changed_envelope(
    service: str, activity: ActivityState, event_type: str, changes: dict[str, Change]
) -> Envelope[Any]:
    return new_envelope(
        type=event_type,
        source=service,
        subject=case_key(activity.case_id or activity.id),
        data=ActivityEvent(activity=activity, changes=changes),
    )
