"""What activity-svc does with the messages it hears: one small function per message."""

from __future__ import annotations

import uuid

from activity_svc.activities import record_activity
from activity_svc.case_types import definition_of, store_version
from activity_svc.timeline import plan_timeline
from casestream.contracts.case import (
    CASE_OPENED,
    CASETYPE_VERSION_PUBLISHED,
    CaseEnvelope,
    CaseTypeEnvelope,
)
from casestream.contracts.notify import EMAIL_SENT, EmailEnvelope
from casestream.logging import get_logger
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

log = get_logger(__name__)

EMAIL_TYPE = "email"


class Handlers:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def store_case_type_version(self, envelope: CaseTypeEnvelope, tx: Transaction) -> None:
        """Keep each published case-type version: timelines are scheduled from it."""
        if envelope.type == CASETYPE_VERSION_PUBLISHED:
            await store_version(tx.session, envelope.data)

    async def schedule_standard_timeline(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        """When a case opens, schedule its case type's standard timeline (at the version the
        case was opened with). Until that version has arrived this fails, and is retried."""
        if envelope.type != CASE_OPENED:
            return
        case = envelope.data.case
        definition = await definition_of(tx.session, case.case_type, case.case_type_version)
        timeline = definition.standard_timeline()
        if timeline is None:
            return
        recorded = [
            await record_activity(
                tx,
                self.settings,
                case_id=case.id,
                type=planned.type,
                subject=planned.subject,
                status=planned.status,
                due_at=planned.due_at,
                occurred_at=planned.occurred_at,
                source=planned.source,
            )
            for planned in plan_timeline(case, timeline)
        ]
        # None for those already there: a repeat of this case.opened creates nothing.
        created = sum(activity is not None for activity in recorded)
        log.info("timeline scheduled", case_id=str(case.id), set=timeline.name, created=created)

    async def log_sent_email(self, envelope: EmailEnvelope, tx: Transaction) -> None:
        """Every email sent on a case becomes a completed Email activity on it."""
        email = envelope.data.email
        if envelope.type != EMAIL_SENT or email.case_id is None:
            return
        await record_activity(
            tx,
            self.settings,
            case_id=email.case_id,
            type=EMAIL_TYPE,
            subject=email.subject,
            details=email.body_text,
            status="completed",
            occurred_at=email.sent_at or envelope.occurred_at,
            with_contact_ids=_contact_ids(email.to),
            source=f"email:{email.id}",
        )


def _contact_ids(recipients: list[str]) -> list[uuid.UUID]:
    """The recipients that are contacts (the rest are addresses or names of groups)."""
    ids = []
    for recipient in recipients:
        try:
            ids.append(uuid.UUID(recipient))
        except ValueError:
            continue
    return ids
