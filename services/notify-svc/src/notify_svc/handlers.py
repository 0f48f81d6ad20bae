"""What notify-svc does with the messages it hears (its read models take a whole batch in a
few statements). Nothing is sent here: a send_email command only queues the email for the
delivery worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from casestream import topics
from casestream.contracts.case import CaseEnvelope, ContactEnvelope, ContactState
from casestream.contracts.notify import SendEmailEnvelope
from casestream.messaging.holding import NotYet, awaited_case
from casestream.persistence.database import Transaction
from casestream.persistence.read_models import keep_cases
from casestream.settings import ServiceSettings
from casestream.tracing import traced
from notify_svc.composing import message_id_for
from notify_svc.events import EVENT_TYPES, email_event
from notify_svc.tables import cases, contacts, emails

EMAIL_NAMESPACE = uuid.UUID("3c1e4a8e-92f4-4f6b-8d0a-6b2f1c7d9e55")


class Handlers:
    """One method per subscription; ``wake_delivery`` starts the delivery worker at once."""

    def __init__(self, settings: ServiceSettings, wake_delivery: Callable[[], None]) -> None:
        self.settings = settings
        self.wake_delivery = wake_delivery

    async def remember_case(self, envelopes: list[CaseEnvelope], tx: Transaction) -> None:
        """Keep the newest version of the case, and its clients as contacts, to render
        emails; the send_email commands that came before it go on now."""
        states = [e.data.case for e in envelopes]
        await keep_cases(tx.session, cases, states)
        clients = [client for case in states for client in case.clients]
        await _upsert_contacts(tx, clients, from_contact_events=False)
        await tx.release({awaited_case(case.id) for case in states})

    async def remember_contact(self, envelopes: list[ContactEnvelope], tx: Transaction) -> None:
        """A contact's own events are the authority on its name, address and do-not-email
        flag."""
        await _upsert_contacts(tx, [e.data.contact for e in envelopes], from_contact_events=True)

    async def queue_email(self, envelope: SendEmailEnvelope, tx: Transaction) -> None:
        """One queued email per notification id, however often the command comes; a repeat
        for an email whose fate is known says that fate again (its sender did not hear it:
        the event's id is the first's, so whoever heard it drops it); one about a case not
        heard of yet waits for it."""
        earlier = (
            await tx.session.execute(
                sa.select(emails).where(emails.c.notification_id == envelope.data.notification_id)
            )
        ).first()
        if earlier is not None:
            if earlier.status in EVENT_TYPES:  # else it is still on its way: that is said then
                await self._say_fate(tx, earlier)
            return
        case_id = envelope.data.case_id
        if case_id is not None and not await _known(tx, case_id):
            raise NotYet(awaited_case(case_id))
        await queue(envelope, tx)
        tx.after_commit(self.wake_delivery)  # send it now, not at the next poll

    async def never_heard_of_its_case(self, envelope: SendEmailEnvelope, tx: Transaction) -> None:
        """A send_email whose case never came (``held_give_up_s``): its email is failed,
        and said so on notify.events."""
        command = envelope.data
        error = f"case {command.case_id} never became known"
        await queue(envelope, tx, status="failed", error=error)
        row = (
            await tx.session.execute(
                sa.select(emails).where(emails.c.notification_id == command.notification_id)
            )
        ).one()
        if row.status == "failed":
            await self._say_fate(tx, row)

    async def _say_fate(self, tx: Transaction, row: Any) -> None:
        # With the correlation id of the request the email answers, as when it was settled.
        with traced(row.correlation_id, str(row.notification_id)):
            await tx.publish(self.settings.topic(topics.NOTIFY_EVENTS), email_event(row))


async def _known(tx: Transaction, case_id: uuid.UUID) -> bool:
    found = await tx.session.scalar(sa.select(cases.c.id).where(cases.c.id == case_id))
    return found is not None


async def queue(
    envelope: SendEmailEnvelope, tx: Transaction, status: str = "queued", error: str | None = None
) -> None:
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
            quotation=command.quotation,
            invoice=command.invoice,
            attachments=[a.model_dump() for a in command.attachments],
            status=status,
            last_error=error,
            message_id=message_id_for(command.notification_id),
            next_attempt_at=sa.func.now() if status == "queued" else None,
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
