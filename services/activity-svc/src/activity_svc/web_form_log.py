"""A web form submission is logged on its case as one completed "Web form submission"
activity: when it opened the case (``case.opened`` with an origin) and when it was attached to
an open case instead (``case.submission_attached``). Its source is the submission, so a
redelivered event, or the same submission attached twice, logs one."""

from __future__ import annotations

from activity_svc.activities import record_activity
from activity_svc.case_action_log import case_event_source
from casestream.contracts.case import CASE_OPENED, CASE_SUBMISSION_ATTACHED, CaseEnvelope
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

WEB_FORM_TYPE = "web_form"


def submission_source(envelope: CaseEnvelope) -> str:
    """The submission, else (an attachment that did not say which) the event itself."""
    origin = envelope.data.origin
    if origin is not None and origin.submission_id is not None:
        return f"submission:{origin.submission_id}"
    return case_event_source(envelope)


def came_from_a_form(envelope: CaseEnvelope) -> bool:
    origin = envelope.data.origin
    if envelope.type == CASE_SUBMISSION_ATTACHED:
        return True
    return envelope.type == CASE_OPENED and origin is not None and origin.submission_id is not None


async def log_web_form_submission(
    tx: Transaction, settings: ServiceSettings, envelope: CaseEnvelope
) -> None:
    if not came_from_a_form(envelope):
        return
    event = envelope.data
    origin = event.origin
    form = origin.form if origin else None
    await record_activity(
        tx,
        settings,
        case_id=event.case.id,
        type=WEB_FORM_TYPE,
        subject=f"Web form: {form}" if form else "Web form submission",
        details=origin.activity_details if origin else None,
        status="completed",
        occurred_at=envelope.occurred_at,
        # The case's first client: the person the form's contact became (or matched).
        with_contact_ids=[event.case.clients[0].id] if event.case.clients else [],
        created_by=event.actor,
        source=submission_source(envelope),
    )
