"""The case: opening one, and its full state as events and the API give it."""

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from case_svc.config import Settings
from case_svc.configuration import case_type_named, statuses_by_name
from case_svc.contacts import contact_state, find_or_create_by_email, get_contacts
from case_svc.errors import invalid, not_found
from case_svc.schemas import CaseIn
from case_svc.tables import case_clients, case_history, cases, contacts
from casestream import topics
from casestream.contracts.case import (
    CASE_OPENED,
    CaseEvent,
    CaseOrigin,
    CaseState,
    CaseTypeDefinition,
    Change,
)
from casestream.envelope import new_envelope
from casestream.logging import get_logger
from casestream.persistence.database import Transaction

log = get_logger(__name__)


async def open_case(
    tx: Transaction,
    settings: Settings,
    request: CaseIn,
    *,
    actor: str | None,
    origin: CaseOrigin | None = None,
) -> CaseState:
    case_type = await case_type_named(tx, request.case_type)
    if not case_type.active:
        raise invalid(("body", "case_type"), f"case type {request.case_type!r} is not active")
    definition = CaseTypeDefinition.model_validate(case_type.definition)
    status = await _opening_status(tx, definition, request.status)
    client_ids = await _clients(tx, settings, request)
    custom = _custom_values(definition, request.custom)

    case_id = uuid.uuid4()
    await tx.session.execute(
        cases.insert().values(
            id=case_id,
            instance=case_type.instance,
            case_type=case_type.name,
            case_type_version=case_type.version,
            subject=request.subject,
            details=request.details,
            status=status,
            active=True,
            custom=custom,
            start_date=request.start_date or datetime.now(UTC).date(),
            source_submission_id=origin.submission_id if origin else None,
        )
    )
    await tx.session.execute(
        case_clients.insert(),
        [{"case_id": case_id, "contact_id": c, "position": i} for i, c in enumerate(client_ids)],
    )
    state = await case_state(tx, case_id)
    changes = {
        "status": Change(after=status),
        "subject": Change(after=request.subject),
        "clients": Change(after=[str(c) for c in client_ids]),
    }
    await _record(tx, settings, CASE_OPENED, state, changes, actor=actor, origin=origin)
    log.info("case opened", case_id=str(case_id), case_type=case_type.name, actor=actor)
    return state


async def _opening_status(
    tx: Transaction, definition: CaseTypeDefinition, wanted: str | None
) -> str:
    statuses = await statuses_by_name(tx)
    allowed = [s for s in definition.statuses if s in statuses] or list(statuses)
    opened = sorted(
        (statuses[s] for s in allowed if statuses[s].grouping == "opened"),
        key=lambda s: (s.weight, s.name),
    )
    if wanted is None:
        if not opened:
            raise invalid(("body", "status"), "the case type has no opened status to start in")
        return opened[0].name
    if wanted not in allowed:
        raise invalid(("body", "status"), f"status {wanted!r} is not allowed for this case type")
    return wanted


async def _clients(tx: Transaction, settings: Settings, request: CaseIn) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(request.client_ids))
    found = await get_contacts(tx, ids)
    for i, contact_id in enumerate(ids):
        if contact_id not in found:
            raise invalid(("body", "client_ids", str(i)), f"unknown contact {contact_id}")
    if request.client is not None:
        contact = await find_or_create_by_email(
            tx, request.client.model_dump(mode="json"), settings
        )
        if contact.id not in ids:
            ids.append(contact.id)
    if not ids:
        raise invalid(("body", "client_ids"), "a case needs at least one client")
    return ids


def _custom_values(definition: CaseTypeDefinition, given: dict[str, Any]) -> dict[str, Any]:
    fields = {f.name: f for f in definition.custom_fields}
    for name in given:
        if name not in fields:
            raise invalid(("body", "custom", name), f"the case type has no custom field {name!r}")
    values = {n: f.default for n, f in fields.items() if f.default is not None} | given
    for name, field in fields.items():
        if field.required and values.get(name) in (None, "", []):
            raise invalid(("body", "custom", name), f"{field.label} is required")
    return values


async def case_state(tx: Transaction, case_id: uuid.UUID) -> CaseState:
    row = (await tx.session.execute(sa.select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        raise not_found(f"case {case_id}")
    clients = (
        await tx.session.execute(
            sa.select(contacts)
            .join(case_clients, case_clients.c.contact_id == contacts.c.id)
            .where(case_clients.c.case_id == case_id)
            .order_by(case_clients.c.position)
        )
    ).all()
    statuses = await statuses_by_name(tx)
    return CaseState(
        id=row.id,
        instance=row.instance,
        case_type=row.case_type,
        case_type_version=row.case_type_version,
        subject=row.subject,
        details=row.details,
        status=row.status,
        status_class=statuses[row.status].grouping,
        active=row.active,
        assignee=row.assignee,
        clients=[contact_state(c) for c in clients],
        roles=[],
        tags=row.tags,
        custom=row.custom,
        start_date=row.start_date,
        end_date=row.end_date,
        next_activity_at=row.next_activity_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


async def _record(
    tx: Transaction,
    settings: Settings,
    event_type: str,
    state: CaseState,
    changes: dict[str, Change],
    *,
    actor: str | None,
    origin: CaseOrigin | None = None,
) -> None:
    """Every change goes to the case's history and out on case.events, in one transaction."""
    await tx.session.execute(
        case_history.insert().values(
            case_id=state.id,
            actor=actor,
            action=event_type,
            changes={k: v.model_dump(mode="json") for k, v in changes.items()},
        )
    )
    await tx.publish(
        settings.topic(topics.CASE_EVENTS),
        new_envelope(
            type=event_type,
            source="case-svc",
            subject=topics.case_key(state.id),
            data=CaseEvent(case=state, changes=changes, actor=actor, origin=origin),
        ),
    )
