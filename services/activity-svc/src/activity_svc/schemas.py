"""The HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from casestream.contracts.activity import (
    ActivityCompletion,
    Attachment,
    NewActivity,
    NextActivity,
    Priority,
)
from casestream.contracts.inputs import Int32, Line, Text


class ActivityTypeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    label: Line = Field(min_length=1, max_length=200)


class ActivityTypeOut(BaseModel):
    name: str
    label: str
    system: bool


# The bodies that activity.commands' commands carry too: one definition, in the shared
# contract.
ActivityIn = NewActivity
NextActivityIn = NextActivity
CompleteIn = ActivityCompletion


class ActivityPatch(BaseModel):
    """Only the fields sent change. ``due_at`` reschedules, ``assignee_ids`` reassigns."""

    model_config = ConfigDict(extra="forbid")

    subject: Line | None = None
    details: Text | None = None
    priority: Priority | None = None
    location: Line | None = Field(default=None, max_length=500)
    outcome: Line | None = None
    duration_minutes: Int32 | None = Field(default=None, ge=0)
    attachments: list[Attachment] | None = None
    due_at: AwareDatetime | None = None
    assignee_ids: list[Line] | None = None
    with_contact_ids: list[uuid.UUID] | None = None


class ActivityOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID | None
    type: str
    type_label: str | None = None
    subject: str | None
    details: str | None
    status: Literal["scheduled", "completed", "cancelled"]
    due_at: datetime | None
    occurred_at: datetime | None
    duration_minutes: int | None
    priority: Priority = "normal"
    location: str | None = None
    assignee_ids: list[str]
    with_contact_ids: list[uuid.UUID]
    outcome: str | None
    attachments: list[Attachment] = Field(default_factory=list)
    source: str | None
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1


class ProcessActionOut(BaseModel):
    completed: ActivityOut
    next: ActivityOut | None = None
