"""From a form's checked values to the ``intake.submission_received`` message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from casestream.contact_keys import partition_key
from casestream.contracts.intake import SubmissionReceived, SubmittedCase, SubmittedContact
from intake_svc.schemas import Form

CUSTOM_PREFIX = "case.custom."


def contact_key(form: Form, values: dict[str, Any], submission_id: uuid.UUID) -> str:
    """The partition key: who submitted (see ``casestream.contact_keys``), so one person's
    submissions reach case-svc in order and it can match contacts without races."""
    return partition_key(_contact_values(form, values), otherwise=str(submission_id))


def _contact_values(form: Form, values: dict[str, Any]) -> dict[str, str]:
    return {
        field.maps_to.removeprefix("contact."): str(values[field.name])
        for field in form.fields
        if field.maps_to and field.maps_to.startswith("contact.") and field.name in values
    }


def submission_received(
    form: Form,
    submission_id: uuid.UUID,
    values: dict[str, Any],
    received_at: datetime,
    attempt: int = 1,
) -> SubmissionReceived:
    contact: dict[str, Any] = {}
    case: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    activity_details: str | None = None
    for field in form.fields:
        if field.maps_to is None or field.name not in values:
            continue
        value = values[field.name]
        group, _, name = field.maps_to.partition(".")
        if field.maps_to.startswith(CUSTOM_PREFIX):
            custom[field.maps_to.removeprefix(CUSTOM_PREFIX)] = value
        elif group == "contact":
            contact[name] = _as_text(value)
        elif group == "case":
            case[name] = _as_text(value)
        elif field.maps_to == "activity.details":
            activity_details = _as_text(value)
    return SubmissionReceived(
        submission_id=submission_id,
        form=form.slug,
        case_type=form.case_type,
        received_at=received_at,
        contact=SubmittedContact(**contact),
        case=SubmittedCase(**case, custom=custom),
        activity_details=activity_details,
        duplicate_contact_rule=form.duplicate_contact_rule,
        existing_open_case=form.existing_open_case,
        attempt=attempt,
    )


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
