"""What the HTTP API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from casestream.contracts.inputs import JsonObject, Line, Text
from casestream.contracts.notify import RecipientState
from notify_svc.rendering import template_problem

EmailStatus = Literal["queued", "sent", "failed", "suppressed"]


class TemplateIn(BaseModel):
    subject: Line = Field(min_length=1, max_length=998)
    body_text: Text
    body_html: Text | None = None


class Template(TemplateIn):
    name: str
    updated_at: datetime


class PreviewIn(BaseModel):
    case_id: uuid.UUID
    to: list[Line] = Field(default_factory=lambda: ["clients"], min_length=1)
    activity: JsonObject | None = Field(
        default=None,
        description="an activity's state (as in activity.events) for the activity tokens",
    )


class Preview(BaseModel):
    subject: str
    body_text: str | None
    body_html: str | None
    recipients: list[RecipientState]
    unresolved: list[str]


class EmailIn(BaseModel):
    case_id: uuid.UUID
    to: list[Line] = Field(
        default_factory=lambda: ["clients"],
        min_length=1,
        description="contact ids, 'clients', 'assignee' (the case's responsible user), "
        "a role name, or addresses",
    )
    template: Line | None = None
    subject: Line | None = Field(default=None, max_length=998)
    body_text: Text | None = None
    body_html: Text | None = None


class Email(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    case_id: uuid.UUID | None
    template: str | None
    to: list[str]
    recipients: list[RecipientState]
    subject: str | None
    body_text: str | None
    body_html: str | None
    status: EmailStatus
    message_id: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Email:
        return cls(**{**row._mapping, "to": row.to_spec})


def template_errors(parts: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each part that does not compile or names an unknown token, in FastAPI's error shape."""
    errors = []
    for part, source in parts.items():
        if source is None:
            continue
        if problem := template_problem(source, html=part == "body_html"):
            errors.append({"loc": ["body", part], "msg": problem, "type": "value_error"})
    return errors
