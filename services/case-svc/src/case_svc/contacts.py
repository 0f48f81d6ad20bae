"""Contacts: create, find, change and merge them, and say so on contact.events."""

import uuid
from typing import Any, Literal

import sqlalchemy as sa

from case_svc.config import Settings
from case_svc.tables import contacts
from casestream import topics
from casestream.commands import conflict, invalid, not_found
from casestream.contact_keys import email_key, person_key
from casestream.contact_keys import lock_keys as contact_lock_keys
from casestream.contracts.case import (
    CONTACT_CREATED,
    CONTACT_UPDATED,
    Change,
    ContactEvent,
    ContactState,
)
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction

EDITABLE = ("first_name", "last_name", "display_name", "email", "phone", "do_not_email")
FILLABLE = ("first_name", "last_name", "display_name", "email", "phone")

DuplicateRule = Literal["email", "email_or_name_phone"]


def contact_state(row: Any) -> ContactState:
    return ContactState.model_validate(row, from_attributes=True)


def cleaned(values: dict[str, Any]) -> dict[str, Any]:
    """Text trimmed, blanks as None: "  " is no name."""
    return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}


def derived_name(values: dict[str, Any]) -> str | None:
    names = [values.get("first_name"), values.get("last_name")]
    return " ".join(n for n in names if n) or values.get("email")


def check_contact(values: dict[str, Any], where: tuple[str, ...] = ("body",)) -> None:
    """What makes a contact someone: an organisation's name, or an individual's name or email."""
    if values.get("contact_type") == "organization":
        if not values.get("display_name"):
            raise invalid((*where, "display_name"), "an organization needs a display_name")
    elif not any(values.get(k) for k in ("first_name", "last_name", "email")):
        raise invalid(
            (*where, "first_name"), "an individual needs a first or last name or an email"
        )


async def find_by_email(tx: Transaction, email: str) -> Any | None:
    """The oldest live contact with this email (case-insensitive, trimmed); if only merged-away
    contacts have it, the contact they were merged into."""
    found = (await tx.session.execute(_BY_EMAIL, {"email": email_key(email)})).first()
    return await _survivor(tx, found)


async def find_by_name_and_phone(tx: Transaction, key: tuple[str, str, str]) -> Any | None:
    """The oldest live contact with these first and last names (case-insensitive, trimmed)
    and this phone number (its digits), or the survivor of a merged-away one."""
    first, last, digits = key
    return await _oldest(
        tx,
        # The same expressions as the contacts_name index (migration 0004).
        # lower() on both sides: the database's idea of case, whatever Python's.
        sa.func.lower(sa.func.btrim(contacts.c.last_name)) == sa.func.lower(last),
        sa.func.lower(sa.func.btrim(contacts.c.first_name)) == sa.func.lower(first),
        sa.func.regexp_replace(contacts.c.phone, "[^0-9]", "", "g") == digits,
    )


async def _oldest(tx: Transaction, *conditions: Any) -> Any | None:
    query = sa.select(contacts).where(*conditions).order_by(*_OLDEST_FIRST).limit(1)
    return await _survivor(tx, (await tx.session.execute(query)).first())


async def _survivor(tx: Transaction, found: Any | None) -> Any | None:
    # Merging into a merged contact is refused, so the chain ends (and has no cycle).
    while found is not None and found.merged_into is not None:
        found = await get_contact(tx, found.merged_into)
    return found


_OLDEST_FIRST = (contacts.c.merged_into.is_not(None), contacts.c.created_at, contacts.c.id)
# Built once: a web form submission runs it every time.
_BY_EMAIL = (
    sa.select(contacts)
    .where(sa.func.lower(contacts.c.email) == sa.bindparam("email", type_=sa.Text))
    .order_by(*_OLDEST_FIRST)
    .limit(1)
)


async def create_contact(tx: Transaction, values: dict[str, Any], settings: Settings) -> Any:
    values = {**values, "id": uuid.uuid4(), "email": (values.get("email") or None)}
    if values.get("email"):
        values["email"] = values["email"].strip()
    if not values.get("display_name"):
        values["display_name"] = derived_name(values)
    row = (await tx.session.execute(_INSERT_CONTACT, values)).one()
    await _announce(tx, settings, CONTACT_CREATED, row, {})
    return row


_INSERT_CONTACT = contacts.insert().returning(contacts)


async def find_or_create_contact(
    tx: Transaction, values: dict[str, Any], settings: Settings, rule: DuplicateRule = "email"
) -> tuple[Any, bool]:
    """The contact these values describe under the duplicate-contact ``rule``, found or new
    (and whether it is new). ``email``: the contact with this email; ``email_or_name_phone``:
    failing that (or with no email), the one with the same names and phone.

    Two callers describing the same new person at once must make one contact, so each takes
    a transaction-scoped advisory lock on every key the new contact could be found by, whatever
    its rule, before looking: the second waits for the first to commit, then finds its
    contact. Keys in one order, so two callers never wait on each other crosswise."""
    email, person = email_key(values.get("email")), person_key(values)
    await lock_keys(tx, contact_lock_keys(values))
    found = await find_by_email(tx, email) if email else None
    if found is None and person and rule == "email_or_name_phone":
        found = await find_by_name_and_phone(tx, person)
    if found is not None:
        return found, False
    return await create_contact(tx, values, settings), True


async def lock_keys(tx: Transaction, keys: list[str]) -> None:
    """Transaction-scoped advisory locks on ``keys``, in one statement, in sorted order (a
    volatile function in the select list is evaluated after ORDER BY)."""
    if not keys:
        return
    await tx.session.execute(_LOCK_KEYS, {"keys": sorted(keys)})


_LOCK_KEYS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
)


async def find_or_create_by_email(
    tx: Transaction, values: dict[str, Any], settings: Settings
) -> Any:
    """The duplicate-contact rule ``email`` (an inline client of POST /cases)."""
    return (await find_or_create_contact(tx, values, settings))[0]


async def get_contacts(tx: Transaction, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = (await tx.session.execute(sa.select(contacts).where(contacts.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}


async def update_contact(
    tx: Transaction, settings: Settings, contact_id: uuid.UUID, patch: dict[str, Any]
) -> Any:
    """Change the given fields; ``contact.updated`` with what changed, or nothing at all."""
    row = await get_contact(tx, contact_id, lock=True)
    if row is None:
        raise not_found(f"contact {contact_id}")
    if row.merged_into is not None:
        raise conflict(f"contact {contact_id} was merged into {row.merged_into}: change that one")
    before = row._asdict()
    after = {**before, **cleaned(patch)}
    if row.contact_type == "individual" and (
        not after["display_name"]
        or ("display_name" not in patch and before["display_name"] == derived_name(before))
    ):
        after["display_name"] = derived_name(after)  # a name made from the others follows them
    check_contact(after)
    return await save_contact(tx, settings, before, after, CONTACT_UPDATED)


async def get_contact(tx: Transaction, contact_id: uuid.UUID, lock: bool = False) -> Any | None:
    query = sa.select(contacts).where(contacts.c.id == contact_id)
    return (await tx.session.execute(query.with_for_update() if lock else query)).first()


async def save_contact(
    tx: Transaction,
    settings: Settings,
    before: dict[str, Any],
    after: dict[str, Any],
    event_type: str,
    merged_contact_id: uuid.UUID | None = None,
) -> Any:
    """Write what changed and announce it. An update that changes nothing says nothing; a
    merge always says so."""
    changes = {
        k: Change(before=before[k], after=after[k]) for k in EDITABLE if before[k] != after[k]
    }
    if not changes and event_type == CONTACT_UPDATED:
        return await get_contact(tx, before["id"])
    values = {k: after[k] for k in changes}
    row = (
        await tx.session.execute(
            contacts.update()
            .where(contacts.c.id == before["id"])
            .values(**values, updated_at=sa.func.now())
            .returning(contacts)
        )
    ).one()
    await _announce(tx, settings, event_type, row, changes, merged_contact_id)
    return row


async def _announce(
    tx: Transaction,
    settings: Settings,
    event_type: str,
    row: Any,
    changes: dict[str, Change],
    merged_contact_id: uuid.UUID | None = None,
) -> None:
    state = contact_state(row)
    await tx.publish(
        settings.topic(topics.CONTACT_EVENTS),
        new_envelope(
            type=event_type,
            source="case-svc",
            subject=str(state.id),
            data=ContactEvent(contact=state, changes=changes, merged_contact_id=merged_contact_id),
        ),
    )
