"""What activity-svc does with the messages it hears: one small function per message."""

from __future__ import annotations

import uuid
from typing import Any

from activity_svc.activities import record_activity
from activity_svc.case_types import definition_of, store_version
from activity_svc.timeline import OPENED_TRIGGER, apply_activity_set, settle_closed_case
from activity_svc.timeline_cases import keep_case
from casestream.contracts.case import (
    CASE_CLOSED,
    CASE_MERGED,
    CASE_OPENED,
    CASETYPE_VERSION_PUBLISHED,
    CaseEnvelope,
    CaseState,
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
        """Keep each published case-type version: timelines are scheduled from it, and the
        cases that came before it go on now."""
        if envelope.type == CASETYPE_VERSION_PUBLISHED:
            await store_version(tx, envelope.data)

    async def follow_case_for_timelines(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        """Keep what timelines need of the case. When it opens, schedule its case type's
        standard timeline (at the version it was opened with; until that version has arrived
        the case's events wait for it); when it closes or is merged away, settle its scheduled
        activities as its case type says."""
        case = envelope.data.case
        stored = await keep_case(tx.session, case)
        if stored is None:
            return  # a repeat, or older than what is known: done already
        if envelope.type == CASE_OPENED:
            await self._schedule_standard_timeline(case, stored, tx)
        elif envelope.type in (CASE_CLOSED, CASE_MERGED):
            cancelled = await settle_closed_case(tx, self.settings, stored)
            log.info("closed case settled", case_id=str(case.id), cancelled=cancelled)

    async def _schedule_standard_timeline(
        self, case: CaseState, stored: Any, tx: Transaction
    ) -> None:
        key = ("definition", case.case_type, case.case_type_version)
        definition = await tx.read_once(
            key, lambda: definition_of(tx.session, case.case_type, case.case_type_version)
        )
        timeline = definition.standard_timeline()
        if timeline is None:
            return
        application = await apply_activity_set(
            tx,
            self.settings,
            stored,
            timeline,
            trigger=OPENED_TRIGGER,
            happened_at=case.created_at,
            applied_by=case.created_by,
        )
        log.info(
            "timeline scheduled",
            case_id=str(case.id),
            set=timeline.name,
            created=len(application.activity_ids) if application.new else 0,
        )

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
