"""What the HTTP API takes and gives: rules (trigger, conditions, typed actions with their
timing), firings, and dry runs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from automation_svc.matching import KNOWN_EVENTS
from casestream.contracts.inputs import JsonObject, JsonValue, Line, Text

ConditionOp = Literal["eq", "ne", "in", "gt", "lt", "contains", "changed", "changed_to"]
# A century either way: the furthest a timing can reach and still be a date.
MAX_DURATION = timedelta(days=36_600)


def _within_a_century(duration: timedelta) -> timedelta:
    if abs(duration) > MAX_DURATION:
        raise ValueError("at most a century (P36600D) either way")
    return duration


Duration = Annotated[
    timedelta,
    AfterValidator(_within_a_century),
    Field(description="ISO 8601 duration, e.g. P7D or -PT2H"),
]


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Line
    instance: Line | None = None
    case_type: Line | None = None
    activity_type: Line | None = Field(None, description="for activity.* events")
    field: Line | None = Field(None, description="for case.custom_field_changed")
    form: Line | None = Field(None, description="for intake.submission_received")

    @field_validator("event")
    @classmethod
    def _known(cls, event: str) -> str:
        if event not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type; one of: {', '.join(KNOWN_EVENTS)}")
        return event


class Condition(BaseModel):
    """``field`` + ``op`` (+ ``value``), or a group: ``all`` / ``any`` of conditions."""

    model_config = ConfigDict(extra="forbid")

    field: Line | None = Field(None, min_length=1)
    op: ConditionOp | None = None
    value: JsonValue = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [self.field is not None, self.all is not None, self.any is not None]
        if sum(forms) != 1:
            raise ValueError("a condition is either field+op(+value), or all: [...], or any: [...]")
        if self.field is not None and self.op is None:
            raise ValueError(f"condition on {self.field!r} needs an op")
        return self


class At(BaseModel):
    """Due at a date found in the event's data, plus an offset: ``{"field":
    "activity.due_at", "offset": "-P1D"}`` is a reminder a day before the activity. Re-read
    when due (and when the activity is rescheduled)."""

    model_config = ConfigDict(extra="forbid")

    field: Line = Field(min_length=1)
    offset: Duration = timedelta(0)


class Repeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: Duration
    until: list[Condition] = Field(default_factory=list)
    max_times: int = Field(10, ge=2, le=1000, description="occurrences in all, the first included")

    @field_validator("every")
    @classmethod
    def _positive(cls, every: timedelta) -> timedelta:
        if every < timedelta(minutes=1):
            raise ValueError("must be at least one minute")
        return every


class ActionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay: Duration | None = Field(None, description="after the triggering event")
    at: At | None = None
    repeat: Repeat | None = None

    @field_validator("delay")
    @classmethod
    def _not_negative(cls, delay: timedelta | None) -> timedelta | None:
        if delay is not None and delay < timedelta(0):
            raise ValueError("a delay cannot be negative; use at with a negative offset")
        return delay

    @model_validator(mode="after")
    def _one_timing(self) -> ActionBase:
        if self.delay is not None and self.at is not None:
            raise ValueError("give delay or at, not both")
        return self


class SendEmailAction(ActionBase):
    type: Literal["send_email"]
    to: list[Annotated[Line, Field(min_length=1)]] = Field(
        default_factory=lambda: ["clients"],
        min_length=1,
        description="'clients', 'assignee', a role name, contact ids or addresses",
    )
    template: Line | None = None
    subject: Line | None = Field(None, max_length=998)
    body_text: Text | None = None

    @model_validator(mode="after")
    def _content(self) -> SendEmailAction:
        if not self.template and not (self.subject and self.body_text is not None):
            raise ValueError("send_email needs a template, or a subject and body_text")
        return self


class ScheduleActivityAction(ActionBase):
    type: Literal["schedule_activity"]
    activity_type: Line = Field(min_length=1)
    subject: Line | None = None
    details: Text | None = None
    due_in: Duration = Field(timedelta(0), description="after the action runs")
    assignee_ids: list[Line] = Field(default_factory=list)


class ChangeStatusAction(ActionBase):
    type: Literal["change_status"]
    status: Line = Field(min_length=1)


class AssignAction(ActionBase):
    type: Literal["assign"]
    user: Line | None = Field(None, description="a staff user; none puts the case in the pool")


class AddRoleAction(ActionBase):
    type: Literal["add_role"]
    role: Line = Field(min_length=1)
    contact: Line = Field(
        "client", description="'client' (the case's first client) or a contact id"
    )

    @field_validator("contact")
    @classmethod
    def _client_or_id(cls, contact: str) -> str:
        if contact != "client":
            try:
                uuid.UUID(contact)
            except ValueError:
                raise ValueError("'client' or a contact id") from None
        return contact


class AddTagAction(ActionBase):
    type: Literal["add_tag"]
    tags: list[Annotated[Line, Field(min_length=1, max_length=100)]] = Field(min_length=1)


Action = Annotated[
    SendEmailAction
    | ScheduleActivityAction
    | ChangeStatusAction
    | AssignAction
    | AddRoleAction
    | AddTagAction,
    Field(discriminator="type"),
]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1, max_length=50)
    cancel_if: list[Condition] = Field(
        default_factory=list,
        description="checked on the case's current state when a delayed action comes due",
    )


class NewRule(RuleIn):
    id: uuid.UUID | None = Field(None, description="Chosen by the client; a new one if absent")


class Rule(RuleIn):
    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


ActionState = Literal["pending", "done", "cancelled", "failed"]


class FiringAction(BaseModel):
    id: uuid.UUID
    index: int
    occurrence: int
    type: str
    params: dict[str, Any]
    state: ActionState
    due_at: datetime | None
    executed_at: datetime | None
    error: str | None
    command_id: uuid.UUID | None


class Firing(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    rule_version: int
    event_id: uuid.UUID
    event_type: str
    case_id: uuid.UUID | None
    fired_at: datetime
    actions: list[FiringAction]


class EventIn(BaseModel):
    type: Line
    data: JsonObject
    occurred_at: datetime | None = None


class DryRunIn(BaseModel):
    """An event to try the rule on; or a case, or an activity (as automation-svc's read
    models know them now, as if the rule's trigger event had just happened to it)."""

    event: EventIn | None = None
    case_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> DryRunIn:
        if sum(x is not None for x in (self.event, self.case_id, self.activity_id)) != 1:
            raise ValueError("give one of event, case_id or activity_id")
        return self


class PlannedCommand(BaseModel):
    topic: str
    type: str
    data: dict[str, Any]


class PlannedAction(BaseModel):
    index: int
    type: str
    state: Literal["now", "pending", "failed"]
    due_at: datetime | None = None
    command: PlannedCommand | None = None
    error: str | None = None


class DryRun(BaseModel):
    would_fire: bool
    reasons: list[str] = Field(description="why it would not fire")
    actions: list[PlannedAction]
