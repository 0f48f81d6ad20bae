"""intake-svc says: ``intake.submissions``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from casestream.contracts.events import EventEnvelope, event_types

SUBMISSION_RECEIVED = "intake.submission_received"
SUBMISSION_TYPES = (SUBMISSION_RECEIVED,)


class SubmittedContact(BaseModel):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


class SubmittedCase(BaseModel):
    subject: str | None = None
    details: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


class SubmissionReceived(BaseModel):
    """A web form submission, already stored by intake-svc, to become a contact and a case."""

    submission_id: uuid.UUID
    form: str
    case_type: str
    received_at: datetime
    contact: SubmittedContact
    case: SubmittedCase
    activity_details: str | None = None
    # "email": the contact with this email (case-insensitive, trimmed), else a new one;
    # "email_or_name_phone": failing that, the contact with the same first and last name
    # and phone number.
    duplicate_contact_rule: Literal["email", "email_or_name_phone"] = "email"
    # When the contact already has an open case of this type: open another, or add the
    # submission to the newest open one as an activity.
    existing_open_case: Literal["new_case", "add_activity"] = "new_case"
    attempt: int = 1  # a staff retry of a rejected submission announces it again, + 1


class SubmissionEnvelope(EventEnvelope[SubmissionReceived]):
    """``intake.submissions``: ``intake.submission_received``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*SUBMISSION_TYPES)
