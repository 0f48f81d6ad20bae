"""What notify-svc says: on notify.events, an email's full state (the shared ``EmailState``,
with the template and each recipient) once it is sent, failed or suppressed; on
notify.templates, each template as saved."""

from __future__ import annotations

import uuid
from typing import Any

from casestream.contracts.notify import (
    EMAIL_FAILED,
    EMAIL_SENT,
    EMAIL_SUPPRESSED,
    TEMPLATE_SAVED,
    EmailEvent,
    EmailState,
    RecipientState,
    TemplateSaved,
)
from casestream.envelope import Envelope, new_envelope

TEMPLATE_NAMESPACE = uuid.UUID("a4f0c1d2-5b6e-4f7a-9c8d-0e1f2a3b4c5d")
EVENT_TYPES = {"sent": EMAIL_SENT, "failed": EMAIL_FAILED, "suppressed": EMAIL_SUPPRESSED}


def email_record(row: Any) -> EmailState:
    """``to`` names who it went to (contact ids where known, else addresses): activity-svc
    reads it to link the Email activity to those contacts."""
    recipients = [RecipientState(**r) for r in row.recipients or []]
    reached = [r for r in recipients if not r.suppressed] if row.status == "sent" else recipients
    # The columns of the same names, and what is worked out from them.
    return EmailState.model_validate(
        {
            **row._mapping,
            "to": [r.contact_id or r.address for r in reached],
            "subject": row.subject or "",
            "recipients": recipients,
        }
    )


def email_event(row: Any) -> Envelope[Any]:
    """Deterministic id (one per notification and outcome)."""
    return new_envelope(
        type=EVENT_TYPES[row.status],
        source="notify-svc",
        subject=str(row.case_id or row.notification_id),
        data=EmailEvent(email=email_record(row)),
        id=uuid.uuid5(row.notification_id, row.status),
    )


def template_saved(row: Any) -> Envelope[Any]:
    """Keyed by the template's name; the id is one per save (name and updated_at), so the
    same save announced twice is one message to a consumer's inbox."""
    saved = TemplateSaved(
        name=row.name,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        updated_at=row.updated_at,
    )
    return new_envelope(
        type=TEMPLATE_SAVED,
        source="notify-svc",
        subject=row.name,
        data=saved,
        id=uuid.uuid5(TEMPLATE_NAMESPACE, f"{row.name}\n{row.updated_at.isoformat()}"),
    )
