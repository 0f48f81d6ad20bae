"""Merging two contacts: the other's case links and roles move to the survivor (each case
changed says so with its own event), the survivor's empty fields are filled from the other,
and the other points at the survivor from then on."""

import uuid
from typing import Any

import sqlalchemy as sa

from case_svc.case_changes import lock_case, save_case
from case_svc.config import Settings
from case_svc.contacts import FILLABLE, derived_name, get_contact, save_contact
from case_svc.tables import case_clients, case_roles, contacts
from casestream.commands import conflict, invalid, not_found
from casestream.contracts.case import CASE_UPDATED, CONTACT_MERGED, Change
from casestream.persistence.database import Transaction


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
    merged = await save_contact(
        tx, settings, before, after, CONTACT_MERGED, merged_contact_id=other_id
    )
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


async def _lock_pair(
    tx: Transaction, survivor_id: uuid.UUID, other_id: uuid.UUID, *, lock: bool
) -> tuple[Any, Any]:
    rows = {i: await get_contact(tx, i, lock) for i in sorted((survivor_id, other_id))}
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
