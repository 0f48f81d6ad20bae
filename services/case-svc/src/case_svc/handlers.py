"""What case-svc does with the messages it hears."""

import sqlalchemy as sa

from case_svc.cases import open_case
from case_svc.config import Settings
from case_svc.schemas import CaseIn, ContactIn
from case_svc.tables import cases
from casestream.contracts.case import CaseOrigin
from casestream.contracts.intake import SubmissionEnvelope
from casestream.persistence.database import Transaction


def open_case_for_submission(settings: Settings):
    async def open_case_for_submission(envelope: SubmissionEnvelope, tx: Transaction) -> None:
        """A web form submission becomes a case for the contact with its email (found or new)."""
        submission = envelope.data
        already = await tx.session.execute(
            sa.select(cases.c.id).where(cases.c.source_submission_id == submission.submission_id)
        )
        if already.first() is not None:
            return  # the same submission sent again (e.g. retried upstream): one case
        await open_case(
            tx,
            settings,
            CaseIn(
                case_type=submission.case_type,
                subject=submission.case.subject or f"Web form: {submission.form}",
                details=submission.case.details,
                client=ContactIn(**submission.contact.model_dump()),
                custom=submission.case.custom,
            ),
            actor=f"webform:{submission.form}",
            origin=CaseOrigin(submission_id=submission.submission_id, form=submission.form),
        )

    return open_case_for_submission
