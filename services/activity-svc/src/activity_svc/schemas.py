"""The HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from activity_svc.events import Attachment

Priority = Literal["low", "normal", "urgent"]


class ActivityTypeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=200)


class ActivityTypeOut(BaseModel):
    name: str
    label: str
    system: bool


class ActivityIn(BaseModel):
    case_id: uuid.UUID | None = None
    type: str
    subject: str | None = None
    details: str | None = None
    status: Literal["scheduled", "completed"] = "scheduled"
    due_at: AwareDatetime | None = None
    occurred_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(default=None, ge=0)
    priority: Priority = "normal"
    location: str | None = Field(default=None, max_length=500)
    assignee_ids: list[str] = Field(default_factory=list)
    with_contact_ids: list[uuid.UUID] = Field(default_factory=list)
    outcome: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class ActivityPatch(BaseModel):
    """Only the fields sent change. ``due_at`` reschedules, ``assignee_ids`` reassigns."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = None
    details: str | None = None
    priority: Priority | None = None
    location: str | None = Field(default=None, max_length=500)
    outcome: str | None = None
    duration_minutes: int | None = Field(default=None, ge=0)
    attachments: list[Attachment] | None = None
    due_at: AwareDatetime | None = None
    assignee_ids: list[str] | None = None
    with_contact_ids: list[uuid.UUID] | None = None


class NextActivityIn(BaseModel):
    """The next action of a process action. On the same case; assignees default to those of
    the activity just completed."""

    model_config = ConfigDict(extra="forbid")

    type: str
    subject: str | None = None
    details: str | None = None
    due_at: AwareDatetime | None = None
    priority: Priority = "normal"
    assignee_ids: list[str] | None = None


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str | None = None
    details: str | None = None
    duration_minutes: int | None = Field(default=None, ge=0)
    occurred_at: AwareDatetime | None = None
    next: NextActivityIn | None = None


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
