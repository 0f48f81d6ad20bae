"""activity-svc says: ``activity.events``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from casestream.contracts.case import Change
from casestream.contracts.commands import Command, CommandEnvelope, registry
from casestream.contracts.events import EventEnvelope, event_types
from casestream.contracts.inputs import Int32, Line, Text

ACTIVITY_SCHEDULED = "activity.scheduled"
ACTIVITY_COMPLETED = "activity.completed"
ACTIVITY_CANCELLED = "activity.cancelled"
ACTIVITY_UPDATED = "activity.updated"  # edited, rescheduled or reassigned
ACTIVITY_EVENT_TYPES = (
    ACTIVITY_SCHEDULED,
    ACTIVITY_COMPLETED,
    ACTIVITY_CANCELLED,
    ACTIVITY_UPDATED,
)


Priority = Literal["low", "normal", "urgent"]


class Attachment(BaseModel):
    """A document kept elsewhere, by reference."""

    name: Line = Field(min_length=1, max_length=300)
    url: Line = Field(min_length=1, max_length=2000)


class ActivityState(BaseModel):
    """The full state of an activity, as every activity event carries it. The fields after
    ``updated_at`` came later: an older event lacks them and reads as their defaults."""

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
    duration_minutes: int | None = None
    outcome: str | None = None
    source: str | None = None  # "command:<envelope id>", a timeline, a web form...
    priority: Priority = "normal"
    location: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    created_by: str | None = None
    version: int = 1


class ActivityEvent(BaseModel):
    activity: ActivityState
    changes: dict[str, Change] = Field(default_factory=dict)


class ActivityEnvelope(EventEnvelope[ActivityEvent]):
    """``activity.events``: one of ``ACTIVITY_EVENT_TYPES``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*ACTIVITY_EVENT_TYPES)


# Commands internal apps and automation-svc send on ``activity.commands``, keyed by the case
# id: one model per type (below). The envelope id makes each one idempotent; one the rules
# refuse, or that does not validate, is dead-lettered.
SCHEDULE_ACTIVITY = "activity.schedule"
COMPLETE_ACTIVITY = "activity.complete"
CANCEL_ACTIVITY = "activity.cancel"
ACTIVITY_COMMAND_TYPES = (SCHEDULE_ACTIVITY, COMPLETE_ACTIVITY, CANCEL_ACTIVITY)


class NewActivity(BaseModel):
    """An activity to record: the body of activity-svc's ``POST /activities`` and of
    ``activity.schedule``."""

    case_id: uuid.UUID | None = None
    type: Line
    subject: Line | None = None
    details: Text | None = None
    status: Literal["scheduled", "completed"] = "scheduled"
    due_at: AwareDatetime | None = None
    occurred_at: AwareDatetime | None = None
    duration_minutes: Int32 | None = Field(default=None, ge=0)
    priority: Priority = "normal"
    location: Line | None = Field(default=None, max_length=500)
    assignee_ids: list[Line] = Field(default_factory=list)
    with_contact_ids: list[uuid.UUID] = Field(default_factory=list)
    outcome: Line | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class NextActivity(BaseModel):
    """The next action of a process action. On the same case; assignees default to those of
    the activity just completed."""

    model_config = ConfigDict(extra="forbid")

    type: Line
    subject: Line | None = None
    details: Text | None = None
    due_at: AwareDatetime | None = None
    priority: Priority = "normal"
    assignee_ids: list[Line] | None = None


class ActivityCompletion(BaseModel):
    """How an activity was completed: the body of ``POST /activities/{id}/complete``."""

    model_config = ConfigDict(extra="forbid")

    outcome: Line | None = None
    details: Text | None = None
    duration_minutes: Int32 | None = Field(default=None, ge=0)
    occurred_at: AwareDatetime | None = None
    next: NextActivity | None = None


class ActivityCommandBase(Command):
    """``actor`` names who asks (a scheduled activity's creator)."""

    actor: Line


class OnActivity(ActivityCommandBase):
    """A command on an existing activity; ``expected_version``: refuse if it changed."""

    activity_id: uuid.UUID
    expected_version: Int32 | None = None


class ScheduleActivity(ActivityCommandBase):
    command_type: ClassVar[str] = SCHEDULE_ACTIVITY

    activity: NewActivity


class CompleteActivity(OnActivity, ActivityCompletion):
    """Its parameters are those of ``POST /activities/{id}/complete`` (``ActivityCompletion``)."""

    model_config = ConfigDict(extra="ignore")
    command_type: ClassVar[str] = COMPLETE_ACTIVITY


class CancelActivity(OnActivity):
    command_type: ClassVar[str] = CANCEL_ACTIVITY


ActivityCommandData = ScheduleActivity | CompleteActivity | CancelActivity
ACTIVITY_COMMAND_MODELS = registry(ScheduleActivity, CompleteActivity, CancelActivity)


class ActivityCommandEnvelope(CommandEnvelope[ActivityCommandData]):
    """``activity.commands``: ``data`` is the model its ``type`` names (``ACTIVITY_COMMAND_MODELS``)."""

    COMMANDS: ClassVar[Mapping[str, type[Command]]] = ACTIVITY_COMMAND_MODELS
