"""A case's life: who holds it (take, requeue, assign), its status, closing and reopening,
and transfer to another case type. Each action checks that it is allowed now (409 with the
reason if not), then goes through ``lock_case`` / ``save_case``."""

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from case_svc.case_changes import Caller, lock_case, save_case
from case_svc.config import Settings
from case_svc.configuration import (
    case_type_named,
    definition_of,
    statuses_for_case,
    statuses_of,
)
from case_svc.custom_fields import validated_custom
from case_svc.errors import conflict, invalid
from case_svc.permissions import ensure_can_add
from case_svc.tables import case_statuses
from casestream.contracts.case import (
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_REOPENED,
    CASE_STATUS_CHANGED,
    CASE_TRANSFERRED,
    CaseState,
    Change,
)
from casestream.persistence.database import Transaction


async def take(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    _must_be_open(case, "take")
    if case.assignee == caller.actor:
        raise conflict("you already hold this case")
    if case.assignee is not None:
        raise conflict(f"the case is held by {case.assignee}: only cases in the pool can be taken")
    return await save_case(
        tx,
        settings,
        case,
        values={"assignee": caller.actor},
        event_type=CASE_ASSIGNED,
        actor=caller.actor,
    )


async def requeue(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    _must_be_open(case, "requeue")
    if case.assignee is None:
        raise conflict("the case is already in the pool")
    admin = caller.staff is None or "admin" in caller.staff.rights
    if case.assignee != caller.actor and not admin:
        raise conflict(f"the case is held by {case.assignee}: only they can give it back")
    return await save_case(
        tx, settings, case, values={"assignee": None}, event_type=CASE_ASSIGNED, actor=caller.actor
    )


async def assign(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    user: str | None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    _must_be_open(case, "assign")
    if case.assignee == user:
        raise conflict(f"the case is already assigned to {user}" if user else "already in the pool")
    return await save_case(
        tx, settings, case, values={"assignee": user}, event_type=CASE_ASSIGNED, actor=caller.actor
    )


async def change_status(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    status: str,
    version: int | None = None,
    note: str | None = None,
) -> CaseState:
    """To an opened status of the case's type; a closed one closes the case (and an opened
    one reopens a closed case), so that the event says what really happened. A ``note``
    goes into the history with the change."""
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    target = await _allowed_status(tx, case, status)
    if target.name == case.status:
        raise conflict(f"the case is already {status!r}")
    noted = {"note": Change(after=note)} if note else None
    if target.grouping == "closed" and case.active:
        return await _close(tx, settings, caller, case, target.name, None, None, noted)
    if target.grouping == "opened" and not case.active:
        return await _reopen(tx, settings, caller, case, target.name, noted)
    return await save_case(
        tx,
        settings,
        case,
        values={"status": target.name},
        event_type=CASE_STATUS_CHANGED,
        actor=caller.actor,
        extra_changes=noted,
    )


async def close(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    status: str | None,
    outcome: str | None,
    lost_reason: str | None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    if not case.active:
        raise conflict("the case is already closed")
    status = await _target_status(tx, case, status, "closed")
    return await _close(tx, settings, caller, case, status, outcome, lost_reason)


async def reopen(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    status: str | None = None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    if case.active:
        raise conflict("the case is open")
    if case.merged_into is not None:
        raise conflict(f"the case was merged into {case.merged_into}: work on that one")
    status = await _target_status(tx, case, status, "opened")
    return await _reopen(tx, settings, caller, case, status)


async def transfer(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    case_type: str,
    version: int | None = None,
) -> CaseState:
    """To another case type, perhaps in another instance: the case takes the target type's
    current definition; its status and custom values carry over where the target has them."""
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    _must_be_open(case, "transfer")
    if case_type == case.case_type:
        raise conflict(f"the case is already a {case_type!r}")
    target = await case_type_named(tx, case_type)
    if not target.active:
        raise conflict(f"case type {case_type!r} is not active")
    if caller.staff is not None:
        ensure_can_add(caller.staff, target.instance)
    definition = await definition_of(tx, target.name, target.version)
    allowed = await statuses_of(tx, definition, "opened")
    status = case.status if case.status in {s.name for s in allowed} else None
    if status is None:
        if not allowed:
            raise conflict(f"case type {case_type!r} has no opened status")
        status = allowed[0].name
    # Values the target type has fields for come along (checked again); the rest stay in the
    # history. Target fields that are required and missing refuse the transfer.
    fields = {f.name for f in definition.custom_fields}
    custom = await validated_custom(
        tx, definition.custom_fields, {k: v for k, v in case.custom.items() if k in fields}
    )
    values = {
        "case_type": target.name,
        "case_type_version": target.version,
        "instance": target.instance,
        "status": status,
        "custom": custom,
    }
    return await save_case(
        tx, settings, case, values=values, event_type=CASE_TRANSFERRED, actor=caller.actor
    )


async def _close(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case: Any,
    status: str,
    outcome: str | None,
    lost_reason: str | None,
    extra: dict[str, Change] | None = None,
) -> CaseState:
    values = {
        "status": status,
        "active": False,
        "end_date": datetime.now(UTC).date(),
        "closed_at": datetime.now(UTC),
        "outcome": outcome,
        "lost_reason": lost_reason,
    }
    return await save_case(
        tx,
        settings,
        case,
        values=values,
        event_type=CASE_CLOSED,
        actor=caller.actor,
        extra_changes=extra,
    )


async def _reopen(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case: Any,
    status: str,
    extra: dict[str, Change] | None = None,
) -> CaseState:
    values = {
        "status": status,
        "active": True,
        "end_date": None,
        "closed_at": None,
        "outcome": None,
        "lost_reason": None,
    }
    return await save_case(
        tx,
        settings,
        case,
        values=values,
        event_type=CASE_REOPENED,
        actor=caller.actor,
        extra_changes=extra,
    )


async def _target_status(tx: Transaction, case: Any, status: str | None, grouping: str) -> str:
    """``status`` if the case may have it and it is of ``grouping`` (opened or closed), else
    the case type's first status of that grouping when none is given."""
    if status is None:
        first = await statuses_for_case(tx, case, grouping)
        if not first:
            raise conflict(f"the case type has no {grouping} status")
        return first[0].name
    if (await _allowed_status(tx, case, status)).grouping != grouping:
        kind = {"opened": "an opened", "closed": "a closed"}[grouping]
        raise invalid(("body", "status"), f"{status!r} is not {kind} status")
    return status


async def _allowed_status(tx: Transaction, case: Any, status: str) -> Any:
    allowed = {s.name: s for s in await statuses_for_case(tx, case)}
    if status not in allowed:
        known = (
            await tx.session.execute(
                sa.select(case_statuses.c.name).where(case_statuses.c.name == status)
            )
        ).first()
        if known is None:
            raise invalid(("body", "status"), f"unknown status {status!r}")
        raise conflict(f"case type {case.case_type!r} does not allow the status {status!r}")
    return allowed[status]


def _must_be_open(case: Any, action: str) -> None:
    if not case.active:
        raise conflict(f"cannot {action} a closed case: reopen it first")
