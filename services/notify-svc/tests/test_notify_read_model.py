"""The read model of cases and contacts, a batch at a time: a contact's own events are the
authority on it, whichever arrives first, and a case's copy of a client never overwrites
them; of several copies in one batch the last (in message order) wins.

The batch handlers run here as the consumers run them (a list of envelopes, one
transaction), against the service's real database; the last test goes through the broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from casestream import topics
from casestream.contracts.case import (
    CONTACT_UPDATED,
    CaseEnvelope,
    ContactEnvelope,
    ContactEvent,
    ContactState,
)
from casestream.envelope import Envelope, new_envelope
from casestream.persistence.database import Database
from casestream.testing.plugin import eventually
from notify_svc.config import Settings
from notify_svc.handlers import Handlers
from notify_svc.tables import cases, contacts

# The read-model handlers use neither the settings nor the wake-up.
HANDLERS = Handlers(Settings(), wake_delivery=lambda: None)


@pytest.fixture
async def database(service: Any) -> AsyncIterator[Database]:
    db = Database(service.settings.database_url)
    try:
        yield db
    finally:
        await db.dispose()


def contact_event(contact_id: Any, **fields: Any) -> Envelope[Any]:
    contact = ContactState(id=contact_id, **fields)
    return new_envelope(
        type=CONTACT_UPDATED,
        source="case-svc",
        subject=str(contact.id),
        data=ContactEvent(contact=contact),
    )


def with_client(opened: Envelope[Any], **client: Any) -> dict[str, Any]:
    """``opened``'s client, changed by ``client`` (the copy a case event carries)."""
    return {**opened.data["case"]["clients"][0], **client}


async def remember_cases(database: Database, *envelopes: Envelope[Any]) -> None:
    """One batch of case events, as its consumer handles it."""
    batch = [CaseEnvelope.model_validate(e.model_dump(mode="json")) for e in envelopes]
    async with database.transaction() as tx:
        await HANDLERS.remember_case(batch, tx)


async def remember_contacts(database: Database, *envelopes: Envelope[Any]) -> None:
    batch = [ContactEnvelope.model_validate(e.model_dump(mode="json")) for e in envelopes]
    async with database.transaction() as tx:
        await HANDLERS.remember_contact(batch, tx)


async def contact_row(database: Database, contact_id: Any) -> Any:
    async with database.session() as session:
        return (
            await session.execute(
                sa.select(contacts.c.state, contacts.c.from_contact_events).where(
                    contacts.c.id == uuid.UUID(str(contact_id))
                )
            )
        ).one()


async def case_version(database: Database, case_id: Any) -> int | None:
    async with database.session() as session:
        return (
            await session.execute(sa.select(cases.c.version).where(cases.c.id == case_id))
        ).scalar()


@pytest.mark.parametrize("contact_first", [True, False], ids=["contact-first", "case-first"])
async def test_a_contacts_own_event_outranks_case_copies_whichever_comes_first(
    service, database, contact_first
):
    opened = service.case_opened(first_name="Ada", email="ada.case@example.org")
    contact_id = opened.data["case"]["clients"][0]["id"]
    updated = service.case_updated(
        opened, clients=[with_client(opened, first_name="Stale", email="stale@example.org")]
    )
    own = contact_event(
        contact_id,
        first_name="Augusta",
        last_name="King",
        email="augusta@example.org",
        do_not_email=True,
    )

    if contact_first:
        await remember_contacts(database, own)
        await remember_cases(database, opened, updated)  # two case copies in one batch
    else:
        await remember_cases(database, opened, updated)
        await remember_contacts(database, own)
        await remember_cases(database, service.case_updated(updated))  # a later case copy

    state, from_contact_events = await contact_row(database, contact_id)
    assert from_contact_events is True
    assert state == own.data["contact"]
    assert await case_version(database, opened.data["case"]["id"]) == (2 if contact_first else 3)


async def test_of_several_case_copies_in_one_batch_the_last_wins(service, database):
    opened = service.case_opened(first_name="First")
    contact_id = opened.data["case"]["clients"][0]["id"]
    second = service.case_updated(opened, clients=[with_client(opened, first_name="Second")])
    # Another case with the same client, later in the batch.
    other = service.case_opened()
    other.data["case"]["clients"] = [with_client(opened, first_name="Third")]
    # An older version of the first case arriving late: the case keeps version 2, but its
    # copy of the client is still the last one heard.
    late = service.case_updated(opened, clients=[with_client(opened, first_name="Late")])
    late.data["case"]["version"] = 1

    await remember_cases(database, opened, second, other, late)

    state, from_contact_events = await contact_row(database, contact_id)
    assert (state["first_name"], from_contact_events) == ("Late", False)
    assert await case_version(database, opened.data["case"]["id"]) == 2
    assert await case_version(database, other.data["case"]["id"]) == 1


async def test_of_several_contact_events_in_one_batch_the_last_wins(database):
    contact_id = uuid.uuid4()
    await remember_contacts(
        database,
        contact_event(contact_id, first_name="One"),
        contact_event(contact_id, first_name="Two"),
    )
    state, from_contact_events = await contact_row(database, contact_id)
    assert (state["first_name"], from_contact_events) == ("Two", True)


async def test_an_email_goes_where_the_contacts_own_event_says(service, database):
    opened = service.case_opened(first_name="Ada", email=f"old-{uuid.uuid4().hex[:8]}@example.org")
    case_id = opened.data["case"]["id"]
    contact_id = opened.data["case"]["clients"][0]["id"]
    address = f"new-{uuid.uuid4().hex[:8]}@example.org"
    await service.deliver(
        topics.CONTACT_EVENTS,
        contact_event(contact_id, first_name="Augusta", last_name="King", email=address),
    )
    await service.deliver(topics.CASE_EVENTS, opened)

    async def both_heard():
        known = await case_version(database, case_id)
        row = await contact_row(database, contact_id) if known else None
        return row is not None and row.from_contact_events

    await eventually(both_heard)
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case_id, subject="Hello {{ client.first_name }}", body_text="Hi"),
    )

    async def sent():
        return service.mailbox.to(address) or None

    [message] = await eventually(sent)
    assert message["Subject"] == "Hello Augusta"
    assert message["To"] == f"Augusta King <{address}>"
    assert service.mailbox.to(opened.data["case"]["clients"][0]["email"]) == []
