"""What activity-svc does with the messages it hears: one method per subscription."""

from __future__ import annotations

import uuid

from activity_svc.activities import record_activity
from activity_svc.case_action_log import log_case_action
from activity_svc.case_types import DefinitionNotYetKnown, definition_of, store_version
from activity_svc.cases import keep_cases, timeline_work_done
from activity_svc.commands import run_command
from activity_svc.timeline import OPENED_TRIGGER, apply_activity_set, settle_closed_case
from activity_svc.web_form_log import log_web_form_submission
from casestream.commands import refusals_rejected
from casestream.contracts.activity import ActivityCommandEnvelope
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
from casestream.tracing import traced

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

    async def follow_cases(self, envelopes: list[CaseEnvelope], tx: Transaction) -> None:
        """Keep each case as it now stands (a batch in one upsert) and log what case-svc did
        (and the web form submissions it took in) on its timeline. When a case opens,
        schedule its case type's standard timeline (at the version it was opened with);
        when it closes or is merged away, settle its scheduled activities as its case type
        says. Until that version of the case type has arrived, the case's event waits."""
        done = await keep_cases(tx.session, [envelope.data.case for envelope in envelopes])
        progressed: dict[uuid.UUID, int] = {}
        for envelope in envelopes:
            case = envelope.data.case
            with traced(envelope.correlation_id, str(envelope.id)):
                await log_case_action(tx, self.settings, envelope)
                await log_web_form_submission(tx, self.settings, envelope)
                if case.version <= done[case.id]:
                    continue  # a repeat, or older than what is known: done already
                if tx.holding is not None and tx.holding.is_behind(envelope):
                    tx.hold(envelope, None)  # behind an earlier event of its case
                    continue
                try:
                    await self._timeline_work(envelope, tx)
                except DefinitionNotYetKnown as late:  # raised before anything is written
                    tx.hold(envelope, late.awaiting)
                    continue
                done[case.id] = progressed[case.id] = case.version
        await timeline_work_done(tx.session, progressed)

    async def _timeline_work(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        case = envelope.data.case
        if envelope.type == CASE_OPENED:
            await self._schedule_standard_timeline(case, tx)
        elif envelope.type in (CASE_CLOSED, CASE_MERGED):
            cancelled = await settle_closed_case(tx, self.settings, case)
            log.info("closed case settled", case_id=str(case.id), cancelled=cancelled)

    async def _schedule_standard_timeline(self, case: CaseState, tx: Transaction) -> None:
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
            case,
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

    async def run_activity_command(
        self, envelope: ActivityCommandEnvelope, tx: Transaction
    ) -> None:
        """Internal apps and automation-svc schedule, complete and cancel activities with the
        HTTP API's functions and rules; a refusal or an invalid body dead-letters the command
        with the reason."""
        with refusals_rejected(envelope):
            await run_command(tx, self.settings, envelope)

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
