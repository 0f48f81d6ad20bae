"""Receiving a submission (stored and announced in one transaction), announcing a rejected one
again, and reading them back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream import metrics, topics
from casestream.contracts.intake import SUBMISSION_RECEIVED
from casestream.envelope import Envelope, new_envelope
from casestream.logging import get_logger
from casestream.messaging.redrive import redrive_forever
from casestream.persistence.database import Database, Transaction
from casestream.settings import ServiceSettings
from intake_svc.forms import get_form
from intake_svc.mapping import contact_key, submission_received
from intake_svc.schemas import Form, Submission
from intake_svc.tables import submissions

# Message ids derive from the submission id and attempt: one announcement, one message id,
# whatever happens; a retry is a new message.
MESSAGE_NAMESPACE = uuid.UUID("6f0c2d4e-4a51-4c8e-9a0e-2b1f3f1b7c11")

log = get_logger(__name__)


class NotRetryable(Exception):
    """Only a rejected submission can be announced again."""


def submission_of(row: Any) -> Submission:
    return Submission.model_validate(dict(row._mapping))


def message_id(submission_id: uuid.UUID, attempt: int) -> uuid.UUID:
    name = f"{SUBMISSION_RECEIVED}:{submission_id}"
    return uuid.uuid5(MESSAGE_NAMESPACE, name if attempt == 1 else f"{name}:{attempt}")


# The submission is stored only if its form is still at the version the post was checked
# against; a concurrent twin with the same key waits on the key for the first to commit, then
# stores nothing: no second row, no second message.
STORE = sa.text(
    """
    INSERT INTO submissions
        (id, form, status, reason, suspected_bot, "values", idempotency_key, received_at,
         updated_at)
    SELECT :id, :form, :status, CAST(:reason AS text), CAST(:reason AS text) IS NOT NULL,
           CAST(:values AS jsonb), CAST(:key AS text), :now, :now
    WHERE EXISTS (SELECT FROM forms WHERE slug = :form AND updated_at = :version)
    ON CONFLICT (form, idempotency_key) DO NOTHING
    RETURNING id
    """
)
FORM_AT = sa.text("SELECT EXISTS (SELECT FROM forms WHERE slug = :form AND updated_at = :version)")
BY_KEY = sa.text("SELECT id FROM submissions WHERE form = :form AND idempotency_key = :key")


async def receive_submission(
    database: Database,
    settings: ServiceSettings,
    form: Form,
    values: dict[str, Any],
    idempotency_key: str | None,
    suspected_bot: str | None = None,
) -> uuid.UUID | None:
    """Store the submission and its ``intake.submission_received`` message together (one
    statement that writes both, no transaction around it); its id. With an idempotency key already used
    on this form, the earlier submission's id. A post ``suspected_bot`` (the reason) is stored
    as rejected and announced to nobody.

    None, and nothing stored, when ``form`` is no longer the form's current definition
    (another replica changed it): check the post against the form as it is now instead."""
    submission_id, now = uuid.uuid4(), datetime.now(UTC)
    params = {"form": form.slug, "version": form.updated_at, "key": idempotency_key}
    stored_params = params | {
        "id": submission_id,
        "status": "rejected" if suspected_bot else "received",
        "reason": suspected_bot,
        "values": json.dumps(values),
        "now": now,
    }
    if suspected_bot:  # stored as rejected, announced to nobody
        async with database.transaction() as tx:
            stored = await tx.session.scalar(STORE, stored_params)
    else:
        envelope = _envelope(settings, form, submission_id, values, now, attempt=1)
        topic = settings.topic(topics.INTAKE_SUBMISSIONS)
        row = await database.store_announcing(STORE, stored_params, topic, envelope)
        stored = None if row is None else row.id
    if stored is not None:
        return stored
    async with database.session() as session:
        if not await session.scalar(FORM_AT, params):
            return None
        assert idempotency_key is not None
        # A new statement, a new snapshot: it sees the twin that won.
        return await session.scalar(BY_KEY, params)


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


def _envelope(
    settings: ServiceSettings,
    form: Form,
    submission_id: uuid.UUID,
    values: dict[str, Any],
    received_at: datetime,
    attempt: int,
) -> Envelope[Any]:
    return new_envelope(
        type=SUBMISSION_RECEIVED,
        source=settings.service_name,
        subject=contact_key(form, values, submission_id),
        data=submission_received(form, submission_id, values, received_at, attempt),
        id=message_id(submission_id, attempt),
    )


async def _announce(
    tx: Transaction,
    settings: ServiceSettings,
    form: Form,
    submission: Submission,
    again: bool = False,
) -> None:
    envelope = _envelope(
        settings,
        form,
        submission.id,
        submission.values,
        submission.received_at,
        submission.attempt,
    )
    if again:
        # A message of its own, so no inbox takes it for the first: case-svc answers it with
        # the outcome it gave, or handles it if the first never came.
        envelope = envelope.model_copy(update={"id": uuid.uuid4()})
    await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)


# The oldest submissions still waiting for their outcome, claimed (another replica takes
# others) and stamped, so each is announced again once per ``after``.
_OVERDUE = sa.text(
    """
    UPDATE submissions SET updated_at = now()
    WHERE id IN (
        SELECT id FROM submissions
        WHERE status = 'received' AND updated_at < now() - make_interval(secs => :after)
        ORDER BY status, received_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    RETURNING *
    """
)


async def announce_overdue(database: Database, settings: Any, limit: int = 200) -> int:
    """Announce again each submission whose outcome has not come ``redrive_after_s`` after it
    was last announced (the message or its answer was lost on the way); how many."""
    async with database.transaction() as tx:
        rows = (
            await tx.session.execute(_OVERDUE, {"after": settings.redrive_after_s, "limit": limit})
        ).all()
        forms: dict[str, Form | None] = {}
        for row in rows:
            submission = submission_of(row)
            if submission.form not in forms:
                forms[submission.form] = await get_form(tx.session, submission.form)
            form = forms[submission.form]
            assert form is not None  # forms are never deleted (submissions refer to them)
            await _announce(tx, settings, form, submission, again=True)
    if rows:
        log.warning("submissions announced again: no outcome came", count=len(rows))
        metrics.redriven.labels(settings.service_name, SUBMISSION_RECEIVED).inc(len(rows))
    return len(rows)


async def redrive_submissions(database: Database, settings: Any) -> None:
    """The worker: look for overdue submissions every ``redrive_interval_s``."""
    await redrive_forever(lambda: announce_overdue(database, settings), settings.redrive_interval_s)


async def get_submission(database: Database, submission_id: uuid.UUID) -> Submission | None:
    async with database.session() as session:
        row = (
            await session.execute(sa.select(submissions).where(submissions.c.id == submission_id))
        ).first()
    return submission_of(row) if row else None


async def list_submissions(
    session: AsyncConnection,
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
