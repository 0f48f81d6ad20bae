"""What intake-svc does with the messages it hears."""

from __future__ import annotations

from datetime import UTC, datetime

from casestream.contracts.case import CASE_OPENED, CaseEnvelope
from casestream.persistence.database import Transaction
from intake_svc.tables import submissions


async def track_case_opened(envelope: CaseEnvelope, tx: Transaction) -> None:
    """When a case opens from one of our submissions, the submission records its case."""
    origin = envelope.data.origin
    if envelope.type != CASE_OPENED or origin is None or origin.submission_id is None:
        return
    case = envelope.data.case
    await tx.session.execute(
        submissions.update()
        # Only from `received`: a later event about the same submission cannot rewrite it.
        .where(submissions.c.id == origin.submission_id, submissions.c.status == "received")
        .values(
            status="case_opened",
            case_id=case.id,
            contact_id=case.clients[0].id if case.clients else None,
            updated_at=datetime.now(UTC),
        )
    )
