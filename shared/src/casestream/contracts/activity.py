"""activity-svc says: ``activity.events``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

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
