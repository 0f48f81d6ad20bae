"""Contacts: create, find, change and merge them, and say so on contact.events."""

import uuid
from typing import Any

import sqlalchemy as sa

from case_svc.config import Settings
from case_svc.errors import conflict, invalid, not_found
from case_svc.tables import case_clients, case_roles, contacts
from casestream import topics
from casestream.contracts.case import (
    CASE_UPDATED,
    CONTACT_CREATED,
    CONTACT_MERGED,
    CONTACT_UPDATED,
    Change,
    ContactEvent,
    ContactState,
)
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction

EDITABLE = ("first_name", "last_name", "display_name", "email", "phone", "do_not_email")
FILLABLE = ("first_name", "last_name", "display_name", "email", "phone")


def normalize_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


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
    query = (
        sa.select(contacts)
        .where(sa.func.lower(contacts.c.email) == normalize_email(email))
        .order_by(contacts.c.merged_into.is_not(None), contacts.c.created_at, contacts.c.id)
        .limit(1)
    )
    found = (await tx.session.execute(query)).first()
    # Merging into a merged contact is refused, so the chain ends (and has no cycle).
    while found is not None and found.merged_into is not None:
        found = await _get(tx, found.merged_into)
    return found


async def create_contact(tx: Transaction, values: dict[str, Any], settings: Settings) -> Any:
    values = {**values, "id": uuid.uuid4(), "email": (values.get("email") or None)}
    if values.get("email"):
        values["email"] = values["email"].strip()
    if not values.get("display_name"):
        values["display_name"] = derived_name(values)
    row = (await tx.session.execute(contacts.insert().values(**values).returning(contacts))).one()
    await _announce(tx, settings, CONTACT_CREATED, row, {})
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


async def update_contact(
    tx: Transaction, settings: Settings, contact_id: uuid.UUID, patch: dict[str, Any]
) -> Any:
    """Change the given fields; ``contact.updated`` with what changed, or nothing at all."""
    row = await _get(tx, contact_id, lock=True)
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
    return await _save(tx, settings, before, after, CONTACT_UPDATED)


async def merge_contacts(
    tx: Transaction,
    settings: Settings,
    survivor_id: uuid.UUID,
    other_id: uuid.UUID,
    *,
    actor: str | None,
) -> Any:
    """``other`` merges into ``survivor``: its case links and roles move over (each case
    changed says so), the survivor's empty fields are filled from it, and it points at the
    survivor from now on."""
    # Imported here: case_changes imports cases, which imports this module.
    from case_svc.case_changes import lock_case, save_case

    if survivor_id == other_id:
        raise invalid(("body", "other_contact_id"), "a contact cannot be merged into itself")
    await _lock_pair(tx, survivor_id, other_id, lock=False)  # refuse before taking locks
    # Cases before contacts, as every case action takes them (the case, then the contacts
    # its rows reference): no deadlock with those. Cases in id order among themselves.
    locked: dict[uuid.UUID, Any] = {}
    for _ in range(2):
        for case_id in sorted(set(await _cases_of(tx, other_id)) - locked.keys()):
            locked[case_id] = await lock_case(tx, case_id, staff=None)
        # Locked, the contacts take no new references: the second pass finds the cases that
        # took the other contact while we waited.
        survivor, other = await _lock_pair(tx, survivor_id, other_id, lock=True)

    before = survivor._asdict()
    after = before | {k: getattr(other, k) for k in FILLABLE if not before[k] and getattr(other, k)}
    after["do_not_email"] = survivor.do_not_email or other.do_not_email  # an opt-out stays
    if survivor.contact_type == "individual" and before["display_name"] == derived_name(before):
        after["display_name"] = derived_name(after) or after["display_name"]
    await tx.session.execute(
        contacts.update()
        .where(contacts.c.id == other_id)
        .values(merged_into=survivor_id, updated_at=sa.func.now())
    )
    merged = await _save(tx, settings, before, after, CONTACT_MERGED, merged_contact_id=other_id)
    for case_id in sorted(locked):
        changes = await _move_case_links(tx, case_id, other_id, survivor_id)
        await save_case(
            tx,
            settings,
            locked[case_id],
            values={},
            event_type=CASE_UPDATED,
            actor=actor,
            extra_changes=changes,
        )
    return merged


async def _get(tx: Transaction, contact_id: uuid.UUID, lock: bool = False) -> Any | None:
    query = sa.select(contacts).where(contacts.c.id == contact_id)
    return (await tx.session.execute(query.with_for_update() if lock else query)).first()


async def _lock_pair(
    tx: Transaction, survivor_id: uuid.UUID, other_id: uuid.UUID, *, lock: bool
) -> tuple[Any, Any]:
    rows = {i: await _get(tx, i, lock) for i in sorted((survivor_id, other_id))}
    for contact_id, row in rows.items():
        if row is None:
            raise not_found(f"contact {contact_id}")
        if row.merged_into is not None:
            raise conflict(f"contact {contact_id} was already merged into {row.merged_into}")
    return rows[survivor_id], rows[other_id]


async def _cases_of(tx: Transaction, contact_id: uuid.UUID) -> list[uuid.UUID]:
    query = sa.union(
        sa.select(case_clients.c.case_id).where(case_clients.c.contact_id == contact_id),
        sa.select(case_roles.c.case_id).where(case_roles.c.contact_id == contact_id),
    )
    return list((await tx.session.execute(query)).scalars())


async def _move_case_links(
    tx: Transaction, case_id: uuid.UUID, other_id: uuid.UUID, survivor_id: uuid.UUID
) -> dict[str, Change]:
    """The other contact's client link and roles on this case become the survivor's. A
    client twice over keeps the earlier place; a role the survivor already holds for the
    same period is not doubled."""
    changes = {}
    query = sa.select(case_clients.c.contact_id).where(case_clients.c.case_id == case_id)
    clients = list((await tx.session.execute(query.order_by(case_clients.c.position))).scalars())
    if other_id in clients:
        moved = list(dict.fromkeys(survivor_id if c == other_id else c for c in clients))
        await tx.session.execute(case_clients.delete().where(case_clients.c.case_id == case_id))
        await tx.session.execute(
            case_clients.insert(),
            [{"case_id": case_id, "contact_id": c, "position": i} for i, c in enumerate(moved)],
        )
        changes["clients"] = Change(before=[str(c) for c in clients], after=[str(c) for c in moved])
    roles = await _roles(tx, case_id)
    if any(r["contact_id"] == str(other_id) for r in roles):
        held = {_period(r) for r in roles if r["contact_id"] == str(survivor_id)}
        doubled = [
            r["id"] for r in roles if r["contact_id"] == str(other_id) and _period(r) in held
        ]
        await tx.session.execute(case_roles.delete().where(case_roles.c.id.in_(doubled)))
        await tx.session.execute(
            case_roles.update()
            .where(case_roles.c.case_id == case_id, case_roles.c.contact_id == other_id)
            .values(contact_id=survivor_id)
        )
        changes["roles"] = Change(before=roles, after=await _roles(tx, case_id))
    return changes


async def _roles(tx: Transaction, case_id: uuid.UUID) -> list[dict[str, Any]]:
    query = (
        sa.select(case_roles)
        .where(case_roles.c.case_id == case_id)
        .order_by(case_roles.c.start_date, case_roles.c.created_at, case_roles.c.id)
    )
    rows = (await tx.session.execute(query)).all()
    keys = ("id", "role", "contact_id", "start_date", "end_date")
    return [{k: _text(getattr(r, k)) for k in keys} for r in rows]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _period(role: dict[str, Any]) -> tuple[Any, ...]:
    return role["role"], role["start_date"], role["end_date"]


async def _save(
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
        return await _get(tx, before["id"])
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
