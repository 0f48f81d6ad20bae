"""What the HTTP API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from automation_svc.matching import KNOWN_EVENTS

ActionType = Literal[
    "send_email", "schedule_activity", "change_status", "assign", "add_role", "add_tag"
]
ConditionOp = Literal["eq", "ne", "in", "gt", "lt", "contains", "changed_to"]


class Trigger(BaseModel):
    event: str
    instance: str | None = None
    case_type: str | None = None

    @field_validator("event")
    @classmethod
    def _known(cls, event: str) -> str:
        if event not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type; one of: {', '.join(KNOWN_EVENTS)}")
        return event


class Condition(BaseModel):
    field: str = Field(min_length=1)
    op: ConditionOp
    value: Any = None


class Action(BaseModel):
    """An action's own parameters (template, to, status...) travel alongside ``type``."""

    model_config = ConfigDict(extra="allow")

    type: ActionType
    delay: timedelta | None = Field(None, description="ISO 8601 duration, e.g. P7D")


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1)
    cancel_if: list[Condition] = Field(default_factory=list)


class NewRule(RuleIn):
    id: uuid.UUID | None = Field(None, description="Chosen by the client; a new one if absent")


class Rule(RuleIn):
    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


class FiringAction(BaseModel):
    id: uuid.UUID
    index: int
    type: str
    params: dict[str, Any]
    state: Literal["pending", "done", "cancelled", "failed"]
    due_at: datetime | None
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


def action_errors(rule: RuleIn) -> list[dict[str, Any]]:
    """Checks on action parameters pydantic cannot express, in FastAPI's error shape."""
    errors = []
    for index, action in enumerate(rule.actions):
        if action.type != "send_email":
            continue
        params = action.model_extra or {}
        loc = ["body", "actions", index]
        to = params.get("to", ["clients"])
        if not (isinstance(to, list) and to and all(isinstance(t, str) and t for t in to)):
            errors.append(
                {
                    "loc": [*loc, "to"],
                    "type": "value_error",
                    "msg": "to must be a non-empty list of recipients",
                }
            )
        has_template = isinstance(params.get("template"), str) and params["template"]
        has_inline = all(
            isinstance(params.get(k), str) and params[k] for k in ("subject", "body_text")
        )
        if not (has_template or has_inline):
            missing = "template" if "subject" not in params else "body_text"
            errors.append(
                {
                    "loc": [*loc, missing],
                    "type": "missing",
                    "msg": "send_email needs a template, or a subject and body_text",
                }
            )
    return errors
