"""Contacts: create, find by email, and say so on contact.events."""

import uuid
from typing import Any

import sqlalchemy as sa

from case_svc.config import Settings
from case_svc.tables import contacts
from casestream import topics
from casestream.contracts.case import CONTACT_CREATED, ContactEvent, ContactState
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction


def normalize_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


def contact_state(row: Any) -> ContactState:
    return ContactState.model_validate(row, from_attributes=True)


async def find_by_email(tx: Transaction, email: str) -> Any | None:
    """The oldest contact with this email (case-insensitive, trimmed)."""
    query = (
        sa.select(contacts)
        .where(sa.func.lower(contacts.c.email) == normalize_email(email))
        .order_by(contacts.c.created_at, contacts.c.id)
        .limit(1)
    )
    return (await tx.session.execute(query)).first()


async def create_contact(tx: Transaction, values: dict[str, Any], settings: Settings) -> Any:
    values = {**values, "id": uuid.uuid4(), "email": (values.get("email") or None)}
    if values.get("email"):
        values["email"] = values["email"].strip()
    if not values.get("display_name"):
        names = [values.get("first_name"), values.get("last_name")]
        values["display_name"] = " ".join(n for n in names if n) or values.get("email")
    row = (await tx.session.execute(contacts.insert().values(**values).returning(contacts))).one()
    state = contact_state(row)
    await tx.publish(
        settings.topic(topics.CONTACT_EVENTS),
        new_envelope(
            type=CONTACT_CREATED,
            source="case-svc",
            subject=str(state.id),
            data=ContactEvent(contact=state),
        ),
    )
    return row


async def find_or_create_by_email(
    tx: Transaction, values: dict[str, Any], settings: Settings
) -> Any:
    """The duplicate-contact rule ``email``. Callers serialise per email (submissions are
    keyed by email, so one consumer sees one person's submissions in order); the advisory
    lock also covers HTTP callers racing on the same address."""
    email = normalize_email(values.get("email"))
    if email:
        await tx.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(email))))
        if (found := await find_by_email(tx, email)) is not None:
            return found
    return await create_contact(tx, values, settings)


async def get_contacts(tx: Transaction, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = (await tx.session.execute(sa.select(contacts).where(contacts.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}
