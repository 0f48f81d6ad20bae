"""What case-svc does to a case is logged on the case's timeline as a completed activity of
a system type, one per case event: its source is the event's id, so a redelivered or
replayed event logs nothing twice."""

from __future__ import annotations

from collections.abc import Callable

from activity_svc.activities import record_activity
from casestream.contracts.case import (
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_MERGED,
    CASE_REOPENED,
    CASE_ROLE_ADDED,
    CASE_STATUS_CHANGED,
    CASE_TRANSFERRED,
    CaseEnvelope,
    CaseEvent,
)
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


def _before_after(event: CaseEvent, field: str) -> tuple[object, object]:
    change = event.changes.get(field)
    return (change.before, change.after) if change else (None, getattr(event.case, field))


def _status_changed(event: CaseEvent) -> str:
    before, after = _before_after(event, "status")
    return f"Status changed from {before} to {after}"


def _assigned(event: CaseEvent) -> str:
    assignee = event.case.assignee
    return f"Case assigned to {assignee}" if assignee else "Case returned to the pool"


def _role_added(event: CaseEvent) -> str:
    change = event.changes.get("roles")
    role = change.after if change and isinstance(change.after, dict) else {}
    return f"Role {role.get('role', '?')} given to contact {role.get('contact_id', '?')}"


def _closed(event: CaseEvent) -> str:
    outcome = f" ({event.case.outcome})" if event.case.outcome else ""
    return f"Case closed with status {event.case.status}{outcome}"


def _transferred(event: CaseEvent) -> str:
    before, after = _before_after(event, "case_type")
    return f"Case transferred from {before} to {after}"


# case event type -> (activity type, its subject from the event)
CASE_ACTIONS: dict[str, tuple[str, Callable[[CaseEvent], str]]] = {
    CASE_STATUS_CHANGED: ("change_case_status", _status_changed),
    CASE_ASSIGNED: ("assign_case", _assigned),
    CASE_ROLE_ADDED: ("assign_case_role", _role_added),
    CASE_CLOSED: ("close_case", _closed),
    CASE_REOPENED: ("reopen_case", lambda e: f"Case reopened with status {e.case.status}"),
    CASE_TRANSFERRED: ("transfer_case", _transferred),
    CASE_MERGED: ("merge_case", lambda e: f"Case merged into case {e.case.merged_into}"),
}


def case_event_source(envelope: CaseEnvelope) -> str:
    return f"case-event:{envelope.id}"


async def log_case_action(
    tx: Transaction, settings: ServiceSettings, envelope: CaseEnvelope
) -> None:
    action = CASE_ACTIONS.get(envelope.type)
    if action is None:
        return
    activity_type, subject = action
    await record_activity(
        tx,
        settings,
        case_id=envelope.data.case.id,
        type=activity_type,
        subject=subject(envelope.data),
        status="completed",
        occurred_at=envelope.occurred_at,
        created_by=envelope.data.actor,
        source=case_event_source(envelope),
    )
