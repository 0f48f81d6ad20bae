"""Receiving a submission (stored and announced in one transaction) and reading them back."""

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
from casestream.persistence.database import Database
from casestream.settings import ServiceSettings
from intake_svc.mapping import contact_key, submission_received
from intake_svc.schemas import Form, Submission
from intake_svc.tables import submissions

# Message ids derive from the submission id: one submission, one message id, whatever happens.
MESSAGE_NAMESPACE = uuid.UUID("6f0c2d4e-4a51-4c8e-9a0e-2b1f3f1b7c11")


def submission_of(row: Any) -> Submission:
    return Submission.model_validate(dict(row._mapping))


async def receive_submission(
    database: Database,
    settings: ServiceSettings,
    form: Form,
    values: dict[str, Any],
    idempotency_key: str | None,
) -> Submission:
    """Store the submission and its ``intake.submission_received`` message together. With an
    idempotency key already used on this form, the earlier submission is the answer."""
    submission_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with database.transaction() as tx:
        inserted = (
            await tx.session.execute(
                insert(submissions)
                .values(
                    id=submission_id,
                    form=form.slug,
                    status="received",
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
        if inserted is not None:
            envelope = new_envelope(
                type=SUBMISSION_RECEIVED,
                source=settings.service_name,
                subject=contact_key(form, values),
                data=submission_received(form, submission_id, values, now),
                id=uuid.uuid5(MESSAGE_NAMESPACE, f"{SUBMISSION_RECEIVED}:{submission_id}"),
            )
            await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)
    if inserted is None:
        assert idempotency_key is not None
        earlier = await _by_key(database, form.slug, idempotency_key)
        assert earlier is not None
        return earlier
    return submission_of(inserted)


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
    form: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Submission]:
    """Newest first; ``before`` is the (received_at, id) of the last one already shown."""
    order = (submissions.c.received_at, submissions.c.id)
    query = sa.select(submissions).order_by(*(c.desc() for c in order)).limit(limit)
    if form is not None:
        query = query.where(submissions.c.form == form)
    if before is not None:
        bounds = [sa.literal(v, c.type) for v, c in zip(before, order, strict=True)]
        query = query.where(sa.tuple_(*order) < sa.tuple_(*bounds))
    return [submission_of(row) for row in (await session.execute(query)).all()]
