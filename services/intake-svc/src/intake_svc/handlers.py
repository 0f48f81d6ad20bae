"""What intake-svc does with the messages it hears."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from casestream.contracts.case import (
    CASETYPE_VERSION_PUBLISHED,
    SUBMISSION_OUTCOME,
    CaseEnvelope,
    CaseTypeEnvelope,
    SubmissionOutcomeEnvelope,
)
from casestream.persistence.database import Transaction
from casestream.persistence.read_models import keep_cases
from intake_svc.case_types import remember_case_type
from intake_svc.tables import cases, submissions


class Handlers:
    """One method per subscription."""

    async def record_outcomes(
        self, envelopes: list[SubmissionOutcomeEnvelope], tx: Transaction
    ) -> None:
        """case-svc says what became of a submission: its status follows, with the case, the
        contact (created or matched) or why it was rejected."""
        await _record_outcomes(envelopes, tx)

    async def learn_case_type(self, envelope: CaseTypeEnvelope, tx: Transaction) -> None:
        """Keep the newest version of each case type, to check form definitions against."""
        if envelope.type == CASETYPE_VERSION_PUBLISHED:
            await remember_case_type(tx.session, envelope.data)

    async def remember_cases(self, envelopes: list[CaseEnvelope], tx: Transaction) -> None:
        """Keep the newest state of each case: who may see the submissions on it (its
        instance, assignee and creator)."""
        await keep_cases(tx.session, cases, [e.data.case for e in envelopes])


async def _record_outcomes(envelopes: list[SubmissionOutcomeEnvelope], tx: Transaction) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "submission": o.submission_id,
            "of_attempt": o.attempt,
            "new_status": o.outcome,
            "new_case_id": o.case_id,
            "new_contact_id": o.contact_id,
            "new_contact_outcome": o.contact,
            "new_reason": o.reason,
            "new_updated_at": now,
        }
        for o in (e.data for e in envelopes if e.type == SUBMISSION_OUTCOME)
    ]
    if rows:
        await tx.session.execute(_RECORD, rows)  # one executemany for the batch


_SET = ("status", "case_id", "contact_id", "contact_outcome", "reason", "updated_at")
_RECORD = (
    submissions.update()
    .where(
        submissions.c.id == sa.bindparam("submission"),
        # Only the answer to the current announcement, and only once: an outcome of an
        # attempt before a retry, or one said again, changes nothing.
        submissions.c.attempt == sa.bindparam("of_attempt"),
        submissions.c.status == "received",
    )
    # Parameters named apart from the columns (SQLAlchemy keeps those names for itself).
    .values({name: sa.bindparam(f"new_{name}") for name in _SET})
)
