"""activity-svc says: ``activity.events``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from casestream.contracts.case import Change
from casestream.envelope import Envelope

ACTIVITY_SCHEDULED = "activity.scheduled"
ACTIVITY_COMPLETED = "activity.completed"
ACTIVITY_CANCELLED = "activity.cancelled"
ACTIVITY_UPDATED = "activity.updated"  # edited, rescheduled or reassigned


class ActivityState(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID | None = None
    type: str
    subject: str | None = None
    details: str | None = None
    status: Literal["scheduled", "completed", "cancelled"]
    due_at: datetime | None = None
    occurred_at: datetime | None = None
    assignee_ids: list[str] = Field(default_factory=list)
    with_contact_ids: list[uuid.UUID] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ActivityEvent(BaseModel):
    activity: ActivityState
    changes: dict[str, Change] = Field(default_factory=dict)


ActivityEnvelope = Envelope[ActivityEvent]


# Commands internal apps and automation-svc send on ``activity.commands``, keyed by the case
# id. The envelope id makes each one idempotent; one the rules refuse is dead-lettered.
SCHEDULE_ACTIVITY = "activity.schedule"
COMPLETE_ACTIVITY = "activity.complete"
CANCEL_ACTIVITY = "activity.cancel"
ACTIVITY_COMMAND_TYPES = (SCHEDULE_ACTIVITY, COMPLETE_ACTIVITY, CANCEL_ACTIVITY)


class ActivityCommand(BaseModel):
    """``actor`` names who asks (the activity's creator). ``activity`` (schedule: the body of
    POST /activities); ``activity_id`` (complete, cancel); ``outcome``, ``details`` and
    ``next`` (complete: the body of POST /activities/{id}/complete); ``expected_version``
    (refuse if the activity changed)."""

    actor: str
    activity: dict[str, Any] | None = None
    activity_id: uuid.UUID | None = None
    outcome: str | None = None
    details: str | None = None
    next: dict[str, Any] | None = None
    expected_version: int | None = None


ActivityCommandEnvelope = Envelope[ActivityCommand]
