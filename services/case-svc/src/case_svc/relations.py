"""What a case is tied to: roles (contacts in a role, with start and end), tags, links to
other cases, and merging two cases into one."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from case_svc.case_changes import lock_case, save_case
from case_svc.cases import state_of
from case_svc.config import Settings
from case_svc.configuration import definition_of, statuses_for_case
from case_svc.contacts import get_contacts
from case_svc.permissions import ensure_can_delete
from case_svc.tables import case_clients, case_links, case_roles
from casestream.commands import Caller, conflict, invalid, not_found
from casestream.contracts.case import (
    CASE_LINKED,
    CASE_MERGED,
    CASE_ROLE_ADDED,
    CASE_ROLE_ENDED,
    CASE_TAGGED,
    CASE_UPDATED,
    CaseState,
    Change,
)
from casestream.persistence.database import Transaction


async def add_role(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    role: str,
    contact_id: uuid.UUID,
    start_date: date | None = None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    definition = await definition_of(tx, case.case_type, case.case_type_version)
    if role not in {r.name for r in definition.roles}:
        raise invalid(("body", "role"), f"case type {case.case_type!r} has no role {role!r}")
    contact = (await get_contacts(tx, [contact_id])).get(contact_id)
    if contact is None:
        raise invalid(("body", "contact_id"), f"unknown contact {contact_id}")
    if contact.merged_into is not None:
        raise invalid(("body", "contact_id"), f"contact was merged into {contact.merged_into}")
    held = await tx.session.execute(
        sa.select(case_roles.c.id).where(
            case_roles.c.case_id == case.id,
            case_roles.c.role == role,
            case_roles.c.contact_id == contact_id,
            case_roles.c.end_date.is_(None),
        )
    )
    if held.first() is not None:
        raise conflict(f"the contact already has the role {role!r} on this case")
    role_id = uuid.uuid4()
    await tx.session.execute(
        case_roles.insert().values(
            id=role_id,
            case_id=case.id,
            role=role,
            contact_id=contact_id,
            start_date=start_date or datetime.now(UTC).date(),
        )
    )
    change = Change(after={"id": str(role_id), "role": role, "contact_id": str(contact_id)})
    return await _save_related(tx, settings, caller, case, CASE_ROLE_ADDED, {"roles": change})


async def end_role(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    role_id: uuid.UUID,
    end_date: date | None = None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    row = (
        await tx.session.execute(
            sa.select(case_roles).where(case_roles.c.id == role_id, case_roles.c.case_id == case.id)
        )
    ).first()
    if row is None:
        raise not_found(f"role {role_id} on case {case_id}")
    if row.end_date is not None:
        raise conflict(f"the role ended on {row.end_date}")
    end = end_date or datetime.now(UTC).date()
    if end < row.start_date:
        raise invalid(("body", "end_date"), f"the role started on {row.start_date}")
    await tx.session.execute(
        case_roles.update().where(case_roles.c.id == role_id).values(end_date=end)
    )
    change = Change(
        before={"id": str(role_id), "end_date": None},
        after={"id": str(role_id), "end_date": end.isoformat()},
    )
    return await _save_related(tx, settings, caller, case, CASE_ROLE_ENDED, {"roles": change})


async def _save_related(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case: Any,
    event_type: str,
    changes: dict[str, Change],
) -> CaseState:
    """Roles and links live in their own tables: the case changes only in version, and its
    history and event say what became of them."""
    return await save_case(
        tx,
        settings,
        case,
        values={},
        event_type=event_type,
        actor=caller.actor,
        extra_changes=changes,
    )


async def tag(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    add: list[str],
    remove: list[str],
    version: int | None = None,
) -> CaseState:
    """Tags added and removed in one step; nothing is recorded if nothing changes."""
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    tags = [t for t in case.tags if t not in remove]
    tags += [t for t in dict.fromkeys(add) if t not in tags]
    if tags == case.tags:
        return await state_of(tx, case)
    return await save_case(
        tx, settings, case, values={"tags": tags}, event_type=CASE_TAGGED, actor=caller.actor
    )


async def link(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    other_id: uuid.UUID,
    version: int | None = None,
) -> CaseState:
    """Both cases change (each lists the other), so both say so."""
    if other_id == case_id:
        raise invalid(("body", "case_id"), "a case cannot be linked to itself")
    rows = await _lock_both(tx, caller, case_id, other_id, version)
    added = await tx.session.execute(
        insert(case_links)
        .values(
            [
                {"case_id": case_id, "linked_case_id": other_id},
                {"case_id": other_id, "linked_case_id": case_id},
            ]
        )
        .on_conflict_do_nothing()
        .returning(case_links.c.case_id)
    )
    if not added.all():
        raise conflict("the cases are already linked")
    for this, linked in ((other_id, case_id), (case_id, other_id)):
        change = {"linked_case_ids": Change(after=[str(linked)])}
        # The caller's case goes last: its state is the answer.
        state = await _save_related(tx, settings, caller, rows[this], CASE_LINKED, change)
    return state


async def merge(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    other_id: uuid.UUID,
    version: int | None = None,
) -> CaseState:
    """``other_id`` is merged into ``case_id``: its clients and roles move to the survivor,
    and it is closed, pointing at the survivor (nothing is deleted)."""
    if caller.staff is not None:
        ensure_can_delete(caller.staff)
    if other_id == case_id:
        raise invalid(("body", "other_case_id"), "a case cannot be merged into itself")
    rows = await _lock_both(tx, caller, case_id, other_id, version)
    survivor, other = rows[case_id], rows[other_id]
    for row in (survivor, other):
        if row.merged_into is not None:
            raise conflict(f"case {row.id} was already merged into {row.merged_into}")
    moved_clients = await _move_clients(tx, other.id, survivor.id)
    moved_roles = await tx.session.execute(
        case_roles.update()
        .where(case_roles.c.case_id == other.id)
        .values(case_id=survivor.id)
        .returning(case_roles.c.id)
    )
    role_ids = [str(r) for r in moved_roles.scalars()]
    closed = await statuses_for_case(tx, other, "closed")
    values = {
        "merged_into": survivor.id,
        "active": False,
        "closed_at": datetime.now(UTC),
        "end_date": datetime.now(UTC).date(),
    }
    if closed and other.active:
        values["status"] = closed[0].name
    await save_case(tx, settings, other, values=values, event_type=CASE_MERGED, actor=caller.actor)
    return await save_case(
        tx,
        settings,
        survivor,
        values={},
        event_type=CASE_UPDATED,
        actor=caller.actor,
        extra_changes={
            "clients": Change(after=[str(c) for c in moved_clients]),
            "roles": Change(after=role_ids),
            "merged_case_id": Change(after=str(other.id)),
        },
    )


async def _lock_both(
    tx: Transaction,
    caller: Caller,
    case_id: uuid.UUID,
    other_id: uuid.UUID,
    version: int | None,
) -> dict[uuid.UUID, Any]:
    """Both cases locked, in id order (two actions on the same pair cannot deadlock); the
    version check applies to ``case_id``, the one the caller acts on."""
    rows = {}
    for c in sorted([case_id, other_id]):
        rows[c] = await lock_case(
            tx, c, staff=caller.staff, expected_version=version if c == case_id else None
        )
    return rows


async def _move_clients(tx: Transaction, source: uuid.UUID, target: uuid.UUID) -> list[uuid.UUID]:
    """The source case's clients that the target did not have yet, appended to its list."""
    have = set(
        (
            await tx.session.execute(
                sa.select(case_clients.c.contact_id).where(case_clients.c.case_id == target)
            )
        ).scalars()
    )
    last = (
        await tx.session.execute(
            sa.select(sa.func.coalesce(sa.func.max(case_clients.c.position), -1)).where(
                case_clients.c.case_id == target
            )
        )
    ).scalar_one()
    theirs = (
        (
            await tx.session.execute(
                sa.select(case_clients.c.contact_id)
                .where(case_clients.c.case_id == source)
                .order_by(case_clients.c.position)
            )
        )
        .scalars()
        .all()
    )
    new = [c for c in theirs if c not in have]
    if new:
        await tx.session.execute(
            case_clients.insert(),
            [
                {"case_id": target, "contact_id": c, "position": last + 1 + i}
                for i, c in enumerate(new)
            ],
        )
    return new
