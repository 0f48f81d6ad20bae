"""A case's life: who holds it (take, requeue, assign), its status, closing and reopening,
and transfer to another case type. Each action locks the case (``lock_case``), reads what
the rules need, asks ``status_rules`` whether it is allowed now and where it leads (409 with
the reason if not), then saves (``save_case``)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from case_svc import status_rules as rules
from case_svc.case_changes import lock_case, save_case
from case_svc.config import Settings
from case_svc.configuration import (
    case_type_named,
    definition_of,
    statuses_by_name,
    statuses_for_case,
    statuses_of,
)
from case_svc.custom_fields import validated_custom
from case_svc.permissions import ensure_can_add
from casestream.commands import Caller
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
    rules.check_take(case, caller.actor)
    return await _save_assignee(tx, settings, caller, case, caller.actor)


async def requeue(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    # A system actor (a command's sender) is trusted like an admin.
    admin = caller.staff is None or "admin" in caller.staff.rights
    rules.check_requeue(case, caller.actor, admin=admin)
    return await _save_assignee(tx, settings, caller, case, None)


async def assign(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    user: str | None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    rules.check_assign(case, user)
    return await _save_assignee(tx, settings, caller, case, user)


async def _save_assignee(
    tx: Transaction, settings: Settings, caller: Caller, case: Any, assignee: str | None
) -> CaseState:
    """Take, requeue and assign all end here: ``None`` puts the case back in the pool."""
    return await save_case(
        tx,
        settings,
        case,
        values={"assignee": assignee},
        event_type=CASE_ASSIGNED,
        actor=caller.actor,
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
    allowed, known = await _statuses_for(tx, case)
    target = rules.allowed_status(case, status, allowed, known)
    move = rules.status_move(case, target)
    noted = {"note": Change(after=note)} if note else None
    if move == "close":
        return await _close_or_reopen(
            tx, settings, caller, case, target.name, reopen=False, extra=noted
        )
    if move == "reopen":
        return await _close_or_reopen(
            tx, settings, caller, case, target.name, reopen=True, extra=noted
        )
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
    rules.check_close(case)
    allowed, known = await _statuses_for(tx, case)
    status = rules.target_status(case, status, rules.CLOSED, allowed, known)
    return await _close_or_reopen(
        tx, settings, caller, case, status, reopen=False, outcome=outcome, lost_reason=lost_reason
    )


async def reopen(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    status: str | None = None,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(tx, case_id, staff=caller.staff, expected_version=version)
    rules.check_reopen(case)
    allowed, known = await _statuses_for(tx, case)
    status = rules.target_status(case, status, rules.OPENED, allowed, known)
    return await _close_or_reopen(tx, settings, caller, case, status, reopen=True)


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
    rules.check_transfer(case, case_type)
    target = await case_type_named(tx, case_type)
    rules.check_transfer_target(case_type, active=target.active)
    if caller.staff is not None:
        ensure_can_add(caller.staff, target.instance)
    definition = await definition_of(tx, target.name, target.version)
    opened = await statuses_of(tx, definition, rules.OPENED)
    status = rules.transfer_status(case, case_type, opened)
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


async def _close_or_reopen(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case: Any,
    status: str,
    *,
    reopen: bool,
    outcome: str | None = None,
    lost_reason: str | None = None,
    extra: dict[str, Change] | None = None,
) -> CaseState:
    """Closing ends the case today and keeps why (outcome, lost reason); reopening makes it
    active again and clears all of that."""
    now = datetime.now(UTC)
    values = {
        "status": status,
        "active": reopen,
        "end_date": None if reopen else now.date(),
        "closed_at": None if reopen else now,
        "outcome": outcome,
        "lost_reason": lost_reason,
    }
    event_type = CASE_REOPENED if reopen else CASE_CLOSED
    return await save_case(
        tx,
        settings,
        case,
        values=values,
        event_type=event_type,
        actor=caller.actor,
        extra_changes=extra,
    )


async def _statuses_for(tx: Transaction, case: Any) -> tuple[list[Any], dict[str, Any]]:
    """The statuses the case may have, in order, and every status there is (to tell an
    unknown name from one the case type does not use)."""
    return await statuses_for_case(tx, case), await statuses_by_name(tx)
