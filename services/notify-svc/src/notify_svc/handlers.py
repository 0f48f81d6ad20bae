"""What notify-svc does with the messages it hears (its read models take a whole batch in a
few statements). Nothing is sent here: a send_email command only queues the email for the
delivery worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from casestream.contracts.case import CaseEnvelope, ContactEnvelope, ContactState
from casestream.contracts.notify import SendEmailEnvelope
from casestream.messaging.consumption import BatchHandler, Handler
from casestream.persistence.database import Transaction
from casestream.persistence.read_models import keep_cases
from casestream.persistence.upserts import any_of
from notify_svc.claiming import WAITING_FOR_CASE
from notify_svc.composing import message_id_for
from notify_svc.tables import cases, contacts, emails

EMAIL_NAMESPACE = uuid.UUID("3c1e4a8e-92f4-4f6b-8d0a-6b2f1c7d9e55")


def remember_case(wake_delivery: Callable[[], None]) -> BatchHandler:
    async def remember_case(envelopes: list[CaseEnvelope], tx: Transaction) -> None:
        """Keep the newest version of the case, and its clients as contacts, to render
        emails; emails that were waiting for it go out now."""
        await remember(envelopes, tx)
        waiting = await tx.session.execute(
            emails.update()
            .where(
                any_of(emails.c.case_id, sorted({e.data.case.id for e in envelopes}, key=str)),
                emails.c.status == "queued",
                emails.c.last_error == WAITING_FOR_CASE,
            )
            .values(next_attempt_at=sa.func.now())
            .returning(emails.c.id)
        )
        if waiting.first() is not None:
            tx.after_commit(wake_delivery)

    return remember_case


async def remember(envelopes: list[CaseEnvelope], tx: Transaction) -> None:
    """The batch's cases in one newest-wins upsert, their clients in another."""
    states = [e.data.case for e in envelopes]
    await keep_cases(tx.session, cases, states)
    await _upsert_contacts(
        tx, [client for case in states for client in case.clients], from_contact_events=False
    )


async def remember_contact(envelopes: list[ContactEnvelope], tx: Transaction) -> None:
    """A contact's own events are the authority on its name, address and do-not-email flag."""
    await _upsert_contacts(tx, [e.data.contact for e in envelopes], from_contact_events=True)


def queue_email(wake_delivery: Callable[[], None]) -> Handler:
    async def queue_email(envelope: SendEmailEnvelope, tx: Transaction) -> None:
        """One queued email per notification id, however often the command comes."""
        await queue(envelope, tx)
        tx.after_commit(wake_delivery)  # send it now, not at the next poll

    return queue_email


async def queue(envelope: SendEmailEnvelope, tx: Transaction) -> None:
    command = envelope.data
    await tx.session.execute(
        insert(emails)
        .values(
            id=uuid.uuid5(EMAIL_NAMESPACE, str(command.notification_id)),
            notification_id=command.notification_id,
            case_id=command.case_id,
            template=command.template,
            to_spec=command.to,
            subject=command.subject,
            body_text=command.body_text,
            activity=command.activity,
            status="queued",
            message_id=message_id_for(command.notification_id),
            next_attempt_at=sa.func.now(),
            requested_by=command.requested_by,
            correlation_id=envelope.correlation_id,
        )
        .on_conflict_do_nothing(index_elements=[emails.c.notification_id])
    )


async def _upsert_contacts(
    tx: Transaction, copies: list[ContactState], *, from_contact_events: bool
) -> None:
    """One upsert for all ``copies`` (in message order: of several copies of one contact,
    the last wins), sorted by id so that concurrent batches lock the same contacts in the
    same order. A copy from a case never overwrites what the contact's own events said."""
    last = {str(contact.id): contact for contact in copies}
    if not last:
        return
    rows = [
        dict(
            id=last[key].id,
            state=last[key].model_dump(mode="json"),
            from_contact_events=from_contact_events,
        )
        for key in sorted(last)
    ]
    upsert = insert(contacts)
    where: Any = None if from_contact_events else ~contacts.c.from_contact_events
    await tx.session.execute(
        upsert.on_conflict_do_update(
            index_elements=[contacts.c.id],
            set_={
                "state": upsert.excluded.state,
                "from_contact_events": contacts.c.from_contact_events
                | upsert.excluded.from_contact_events,
            },
            where=where,
        ),
        rows,
    )
