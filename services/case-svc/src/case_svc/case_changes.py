"""Changing a case: lock it, check the caller and the version they saw, write the new values,
and record the change (history + event) in the same transaction.

Every action on a case goes through ``lock_case`` then ``save_case``, so each one bumps the
version once, leaves one history entry and says one event, however it arrived (HTTP or a
command)."""

import uuid
from typing import Any

import sqlalchemy as sa

from case_svc.cases import case_state, record_case_event
from case_svc.config import Settings
from case_svc.opportunities import following_status
from case_svc.permissions import ensure_can_see
from case_svc.tables import cases
from casestream.commands import ensure_version, not_found
from casestream.contracts.case import CaseOrigin, CaseState, Change
from casestream.http.auth import StaffUser
from casestream.persistence.database import Transaction


async def lock_case(
    tx: Transaction,
    case_id: uuid.UUID,
    *,
    staff: StaffUser | None,
    expected_version: int | None = None,
) -> Any:
    """The case's row, locked for this transaction. 404 if unknown, 403 if outside the
    caller's rights (``staff`` None: a system actor), 409 if the caller saw an older version
    (optimistic concurrency: their change would overwrite one they have not seen)."""
    row = (
        await tx.session.execute(sa.select(cases).where(cases.c.id == case_id).with_for_update())
    ).first()
    if row is None:
        raise not_found(f"case {case_id}")
    if staff is not None:
        ensure_can_see(staff, row)
    ensure_version("case", row.version, expected_version)
    return row


async def save_case(
    tx: Transaction,
    settings: Settings,
    before: Any,
    *,
    values: dict[str, Any],
    event_type: str,
    actor: str | None,
    extra_changes: dict[str, Change] | None = None,
    origin: CaseOrigin | None = None,
) -> CaseState:
    """Write ``values`` on the locked case ``before``, bump its version, and record what
    changed (``values`` that differ, plus ``extra_changes`` for related rows such as clients,
    roles or links). A new status brings its probability to a sales opportunity."""
    values = await following_status(tx, before, values)
    changes = {
        k: Change(before=_plain(getattr(before, k)), after=_plain(v))
        for k, v in values.items()
        if getattr(before, k) != v
    }
    changes.update(extra_changes or {})
    await tx.session.execute(
        cases.update()
        .where(cases.c.id == before.id)
        .values(**values, version=cases.c.version + 1, updated_at=sa.func.now())
    )
    state = await case_state(tx, before.id)
    await record_case_event(tx, settings, event_type, state, changes, actor=actor, origin=origin)
    return state


def _plain(value: Any) -> Any:
    """JSON-friendly, for the history and the event."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
