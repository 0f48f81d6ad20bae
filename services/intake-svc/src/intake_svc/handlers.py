"""What intake-svc does with the messages it hears."""

from __future__ import annotations

from datetime import UTC, datetime

from casestream.contracts.case import (
    CASETYPE_VERSION_PUBLISHED,
    SUBMISSION_OUTCOME,
    CaseTypeEnvelope,
    SubmissionOutcomeEnvelope,
)
from casestream.persistence.database import Transaction
from intake_svc.case_types import remember_case_type
from intake_svc.tables import submissions


async def record_outcome(envelope: SubmissionOutcomeEnvelope, tx: Transaction) -> None:
    """case-svc says what became of a submission: its status follows, with the case, the
    contact (created or matched) or why it was rejected."""
    if envelope.type != SUBMISSION_OUTCOME:
        return
    outcome = envelope.data
    await tx.session.execute(
        submissions.update()
        .where(
            submissions.c.id == outcome.submission_id,
            # Only the answer to the current announcement, and only once: an outcome of an
            # attempt before a retry, or one said again, changes nothing.
            submissions.c.attempt == outcome.attempt,
            submissions.c.status == "received",
        )
        .values(
            status=outcome.outcome,
            case_id=outcome.case_id,
            contact_id=outcome.contact_id,
            contact_outcome=outcome.contact,
            reason=outcome.reason,
            updated_at=datetime.now(UTC),
        )
    )


async def learn_case_type(envelope: CaseTypeEnvelope, tx: Transaction) -> None:
    """Keep the newest version of each case type, to check form definitions against."""
    if envelope.type == CASETYPE_VERSION_PUBLISHED:
        await remember_case_type(tx.session, envelope.data)
