"""The HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field


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
    assignee_ids: list[str] = Field(default_factory=list)
    with_contact_ids: list[uuid.UUID] = Field(default_factory=list)
    outcome: str | None = None


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
    assignee_ids: list[str]
    with_contact_ids: list[uuid.UUID]
    outcome: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime
