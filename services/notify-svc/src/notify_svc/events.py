"""What notify-svc says on notify.events: an email's full state once it is sent, failed
or suppressed. ``EmailRecord`` adds to the shared ``EmailState`` (consumers ignore fields
they do not know): the template and each recipient."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from casestream.contracts.notify import EMAIL_FAILED, EMAIL_SENT, EMAIL_SUPPRESSED, EmailState
from casestream.envelope import Envelope, new_envelope

EVENT_TYPES = {"sent": EMAIL_SENT, "failed": EMAIL_FAILED, "suppressed": EMAIL_SUPPRESSED}


class RecipientState(BaseModel):
    address: str
    contact_id: str | None = None
    name: str | None = None
    suppressed: bool = False


class EmailRecord(EmailState):
    template: str | None = None
    recipients: list[RecipientState] = Field(default_factory=list)
    body_html: str | None = None
    created_at: datetime | None = None


class EmailRecordEvent(BaseModel):
    email: EmailRecord


EmailRecordEnvelope = Envelope[EmailRecordEvent]


def email_record(row: Any) -> EmailRecord:
    """``to`` names who it went to (contact ids where known, else addresses): activity-svc
    reads it to link the Email activity to those contacts."""
    recipients = [RecipientState(**r) for r in row.recipients or []]
    reached = [r for r in recipients if not r.suppressed] if row.status == "sent" else recipients
    return EmailRecord(
        id=row.id,
        notification_id=row.notification_id,
        case_id=row.case_id,
        to=[r.contact_id or r.address for r in reached],
        subject=row.subject or "",
        body_text=row.body_text,
        status=row.status,
        message_id=row.message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=row.sent_at,
        template=row.template,
        recipients=recipients,
        body_html=row.body_html,
        created_at=row.created_at,
    )


def email_event(row: Any) -> Envelope[Any]:
    """Deterministic id (one per notification and outcome)."""
    return new_envelope(
        type=EVENT_TYPES[row.status],
        source="notify-svc",
        subject=str(row.case_id or row.notification_id),
        data=EmailRecordEvent(email=email_record(row)),
        id=uuid.uuid5(row.notification_id, row.status),
    )
