"""Receiving a submission (stored and announced in one transaction), announcing a rejected one
again, and reading them back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from casestream import topics
from casestream.contracts.intake import SUBMISSION_RECEIVED
from casestream.envelope import new_envelope
from casestream.persistence.database import Database, Transaction
from casestream.settings import ServiceSettings
from intake_svc.forms import get_form
from intake_svc.mapping import contact_key, submission_received
from intake_svc.schemas import Form, Submission
from intake_svc.tables import submissions

# Message ids derive from the submission id and attempt: one announcement, one message id,
# whatever happens; a retry is a new message.
MESSAGE_NAMESPACE = uuid.UUID("6f0c2d4e-4a51-4c8e-9a0e-2b1f3f1b7c11")


class NotRetryable(Exception):
    """Only a rejected submission can be announced again."""


def submission_of(row: Any) -> Submission:
    return Submission.model_validate(dict(row._mapping))


def message_id(submission_id: uuid.UUID, attempt: int) -> uuid.UUID:
    name = f"{SUBMISSION_RECEIVED}:{submission_id}"
    return uuid.uuid5(MESSAGE_NAMESPACE, name if attempt == 1 else f"{name}:{attempt}")


async def receive_submission(
    database: Database,
    settings: ServiceSettings,
    form: Form,
    values: dict[str, Any],
    idempotency_key: str | None,
    suspected_bot: str | None = None,
) -> Submission:
    """Store the submission and its ``intake.submission_received`` message together. With an
    idempotency key already used on this form, the earlier submission is the answer. A post
    ``suspected_bot`` (the reason) is stored as rejected and announced to nobody."""
    submission_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with database.transaction() as tx:
        inserted = (
            await tx.session.execute(
                insert(submissions)
                .values(
                    id=submission_id,
                    form=form.slug,
                    status="rejected" if suspected_bot else "received",
                    reason=suspected_bot,
                    suspected_bot=suspected_bot is not None,
                    values=values,
                    idempotency_key=idempotency_key,
                    received_at=now,
                    updated_at=now,
                )
                # A concurrent twin with the same key waits here for the first to commit,
                # then inserts nothing: no second row, no second message.
                .on_conflict_do_nothing(
                    index_elements=[submissions.c.form, submissions.c.idempotency_key]
                )
                .returning(submissions)
            )
        ).first()
        if inserted is not None and not suspected_bot:
            await _announce(tx, settings, form, submission_of(inserted))
    if inserted is None:
        assert idempotency_key is not None
        earlier = await _by_key(database, form.slug, idempotency_key)
        assert earlier is not None
        return earlier
    return submission_of(inserted)


async def retry_submission(
    database: Database, settings: ServiceSettings, submission_id: uuid.UUID
) -> Submission | None:
    """Announce a rejected submission again (attempt + 1), built from the form as it is now,
    so a fixed mapping counts too. None if there is no such submission; NotRetryable unless
    it was rejected."""
    async with database.transaction() as tx:
        row = (
            await tx.session.execute(
                submissions.update()
                .where(submissions.c.id == submission_id, submissions.c.status == "rejected")
                .values(
                    status="received",
                    attempt=submissions.c.attempt + 1,
                    reason=None,
                    suspected_bot=False,
                    case_id=None,
                    contact_id=None,
                    contact_outcome=None,
                    updated_at=datetime.now(UTC),
                )
                .returning(submissions)
            )
        ).first()
        if row is None:
            exists = await tx.session.scalar(
                sa.select(sa.func.count()).where(submissions.c.id == submission_id)
            )
            if exists:
                raise NotRetryable
            return None
        retried = submission_of(row)
        form = await get_form(tx.session, retried.form)
        assert form is not None  # forms are never deleted (submissions refer to them)
        await _announce(tx, settings, form, retried)
    return retried


async def _announce(
    tx: Transaction, settings: ServiceSettings, form: Form, submission: Submission
) -> None:
    envelope = new_envelope(
        type=SUBMISSION_RECEIVED,
        source=settings.service_name,
        subject=contact_key(form, submission.values, submission.id),
        data=submission_received(
            form, submission.id, submission.values, submission.received_at, submission.attempt
        ),
        id=message_id(submission.id, submission.attempt),
    )
    await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)


async def _by_key(database: Database, form: str, key: str) -> Submission | None:
    async with database.session() as session:
        row = (
            await session.execute(
                sa.select(submissions).where(
                    submissions.c.form == form, submissions.c.idempotency_key == key
                )
            )
        ).first()
    return submission_of(row) if row else None


async def get_submission(database: Database, submission_id: uuid.UUID) -> Submission | None:
    async with database.session() as session:
        row = (
            await session.execute(sa.select(submissions).where(submissions.c.id == submission_id))
        ).first()
    return submission_of(row) if row else None


async def list_submissions(
    session: AsyncSession,
    *,
    form: str | None,
    status: str | None,
    contact_outcome: str | None,
    after: sa.ColumnElement[bool],
    limit: int,
) -> list[Submission]:
    """Newest first; ``after`` is the keyset condition from the cursor."""
    query = (
        sa.select(submissions)
        .where(after)
        .order_by(submissions.c.received_at.desc(), submissions.c.id.desc())
        .limit(limit)
    )
    for column, wanted in (
        (submissions.c.form, form),
        (submissions.c.status, status),
        (submissions.c.contact_outcome, contact_outcome),
    ):
        if wanted is not None:
            query = query.where(column == wanted)
    return [submission_of(row) for row in (await session.execute(query)).all()]
