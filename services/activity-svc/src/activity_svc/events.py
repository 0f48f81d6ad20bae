"""What activity-svc says on ``activity.events``: the shared contract, plus the fields this
service knows and the shared ``ActivityState`` does not carry yet (duration, outcome,
source). Consumers reading the shared contract simply ignore them."""

from __future__ import annotations

from typing import Any

from casestream.contracts.activity import (
    ACTIVITY_COMPLETED,
    ACTIVITY_SCHEDULED,
    ActivityEvent,
    ActivityState,
)
from casestream.envelope import Envelope, new_envelope
from casestream.topics import case_key


class ActivityRecord(ActivityState):
    duration_minutes: int | None = None
    outcome: str | None = None
    source: str | None = None


class ActivityRecordEvent(ActivityEvent):
    activity: ActivityRecord


ActivityRecordEnvelope = Envelope[ActivityRecordEvent]

EVENT_OF_STATUS = {"scheduled": ACTIVITY_SCHEDULED, "completed": ACTIVITY_COMPLETED}


def record_of(row: Any) -> ActivityRecord:
    return ActivityRecord.model_validate(row, from_attributes=True)


def created_envelope(service: str, activity: ActivityRecord) -> Envelope[Any]:
    """``activity.scheduled`` or ``activity.completed`` for a new activity, keyed by its case
    (or by itself when it is on no case)."""
    return new_envelope(
        type=EVENT_OF_STATUS[activity.status],
        source=service,
        subject=case_key(activity.case_id or activity.id),
        data=ActivityRecordEvent(activity=activity),
    )
