"""What activity-svc says on ``activity.events``: the shared contract, plus the fields this
service knows and the shared ``ActivityState`` does not carry yet (duration, outcome,
source, priority, location, attachments, creator, version). Consumers reading the shared
contract simply ignore them. Every event carries the full state and what changed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

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

# Not in the shared contract yet: an activity called off, and one edited, rescheduled or
# reassigned.


class Attachment(BaseModel):
    """A document kept elsewhere, by reference."""

    name: str = Field(min_length=1, max_length=300)
    url: str = Field(min_length=1, max_length=2000)


class ActivityRecord(ActivityState):
    duration_minutes: int | None = None
    outcome: str | None = None
    source: str | None = None
    priority: Literal["low", "normal", "urgent"] = "normal"
    location: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    created_by: str | None = None
    version: int = 1


class ActivityRecordEvent(ActivityEvent):
    activity: ActivityRecord


ActivityRecordEnvelope = Envelope[ActivityRecordEvent]

EVENT_OF_STATUS = {
    "scheduled": ACTIVITY_SCHEDULED,
    "completed": ACTIVITY_COMPLETED,
    "cancelled": ACTIVITY_CANCELLED,
}


def record_of(row: Any) -> ActivityRecord:
    return ActivityRecord.model_validate(row, from_attributes=True)


def created_envelope(service: str, activity: ActivityRecord) -> Envelope[Any]:
    """``activity.scheduled`` or ``activity.completed`` for a new activity, keyed by its case
    (or by itself when it is on no case)."""
    return changed_envelope(service, activity, EVENT_OF_STATUS[activity.status], {})


def changed_envelope(
    service: str, activity: ActivityRecord, event_type: str, changes: dict[str, Change]
) -> Envelope[Any]:
    return new_envelope(
        type=event_type,
        source=service,
        subject=case_key(activity.case_id or activity.id),
        data=ActivityRecordEvent(activity=activity, changes=changes),
    )
