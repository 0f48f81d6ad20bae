"""notify-svc hears ``notify.commands`` and says ``notify.events``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from casestream.envelope import Envelope

SEND_EMAIL = "notify.send_email"
EMAIL_SENT = "notify.email_sent"
EMAIL_FAILED = "notify.email_failed"
EMAIL_SUPPRESSED = "notify.email_suppressed"
TEMPLATE_SAVED = "notify.template_saved"  # on notify.templates


class SendEmail(BaseModel):
    """Send one logical email. ``notification_id`` is chosen by the sender and is
    deterministic (a rule firing's action id), so a repeated command sends nothing twice."""

    notification_id: uuid.UUID
    case_id: uuid.UUID
    # Contact ids, "clients", "assignee" (the case's responsible user), a role name, or
    # plain addresses.
    to: list[str] = Field(default_factory=lambda: ["clients"])
    template: str | None = None
    subject: str | None = None
    body_text: str | None = None
    requested_by: str | None = None
    # The activity that triggered the rule, as it stood when the email was asked for: the
    # ``{{ activity.* }}`` tokens.
    activity: dict[str, Any] | None = None


class EmailState(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    case_id: uuid.UUID | None = None
    to: list[str]
    subject: str
    body_text: str | None = None
    status: Literal["queued", "sent", "failed", "suppressed"]
    message_id: str
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None


class EmailEvent(BaseModel):
    email: EmailState


class TemplateSaved(BaseModel):
    """A template as saved, so other services (automation-svc) can check rules naming it."""

    name: str
    subject: str
    body_text: str
    body_html: str | None = None
    updated_at: datetime


SendEmailEnvelope = Envelope[SendEmail]
TemplateEnvelope = Envelope[TemplateSaved]
EmailEnvelope = Envelope[EmailEvent]
