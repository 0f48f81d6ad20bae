"""The case: opening one, and its full state as events and the API give it."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from case_svc.config import Settings
from case_svc.configuration import (
    case_type_named,
    parsed_definition,
    statuses_by_name,
    statuses_of,
)
from case_svc.contacts import contact_state, find_or_create_by_email, get_contacts
from case_svc.custom_fields import validated_custom
from case_svc.opportunities import checked_opportunity
from case_svc.permissions import ensure_can_add
from case_svc.schemas import CaseIn
from case_svc.tables import case_clients, case_history, case_links, case_roles, cases, contacts
from casestream import topics
from casestream.commands import invalid, not_found
from casestream.contracts.case import (
    CASE_OPENED,
    CaseEvent,
    CaseOrigin,
    CaseState,
    CaseTypeDefinition,
    Change,
    ContactState,
    RoleState,
)
from casestream.envelope import new_envelope
from casestream.http.auth import StaffUser
from casestream.logging import get_logger
from casestream.persistence.database import Transaction

log = get_logger(__name__)


@dataclass(frozen=True)
class CheckedCase:
    """What opening a case needs of its type and values, checked: opening it after this
    refuses nothing (its clients aside)."""

    case_type: Any
    status: str
    custom: dict[str, Any]
    opportunity: dict[str, Any] | None


async def checked_case(
    tx: Transaction, request: CaseIn, *, staff: StaffUser | None = None
) -> CheckedCase:
    """Every check of ``open_case`` but the clients': the case type may take the case (and
    ``staff``, if given, may add it), its status and custom values are allowed."""
    case_type = await case_type_named(tx, request.case_type)
    if staff is not None:
        ensure_can_add(staff, case_type.instance)
    if not case_type.active:
        raise invalid(("body", "case_type"), f"case type {request.case_type!r} is not active")
    definition = await parsed_definition(tx, case_type)
    status = await _opening_status(tx, definition, request.status)
    custom = await validated_custom(tx, definition.custom_fields, request.custom)
    opportunity = None
    if request.opportunity is not None:
        opportunity = await checked_opportunity(
            tx, case_type.instance, status, None, request.opportunity
        )
    return CheckedCase(case_type, status, custom, opportunity)


async def open_case(
    tx: Transaction,
    settings: Settings,
    request: CaseIn,
    *,
    actor: str | None,
    origin: CaseOrigin | None = None,
    staff: StaffUser | None = None,
    contacts_in_hand: dict[uuid.UUID, Any] | None = None,
    checked: CheckedCase | None = None,
) -> CaseState:
    """Open a case (``staff``: the caller whose rights apply; None for the system).
    ``contacts_in_hand``: contact rows the caller has just found or made, by id (not read
    again); ``checked``: ``checked_case`` of this request, done already."""
    checked = checked or await checked_case(tx, request, staff=staff)
    case_type, status = checked.case_type, checked.status
    client_ids, clients = await _clients(tx, settings, request, contacts_in_hand or {})
    case_id = uuid.uuid4()
    row = await tx.session.execute(
        _INSERT_CASE,
        dict(
            id=case_id,
            instance=case_type.instance,
            case_type=case_type.name,
            case_type_version=case_type.version,
            subject=request.subject,
            details=request.details,
            status=status,
            active=True,
            custom=checked.custom,
            start_date=request.start_date or datetime.now(UTC).date(),
            source_submission_id=origin.submission_id if origin else None,
            created_by=actor,
            opportunity=checked.opportunity,
        ),
    )
    await tx.session.execute(
        _INSERT_CLIENTS,
        [{"case_id": case_id, "contact_id": c, "position": i} for i, c in enumerate(client_ids)],
    )
    # Its clients are the rows in hand: the new case's state needs no read of its own.
    state = (await states_of(tx, [row.one()], clients={case_id: clients}))[0]
    changes = {
        "status": Change(after=status),
        "subject": Change(after=request.subject),
        "clients": Change(after=[str(c) for c in client_ids]),
    }
    await record_case_event(tx, settings, CASE_OPENED, state, changes, actor=actor, origin=origin)
    log.info("case opened", case_id=str(case_id), case_type=case_type.name, actor=actor)
    return state


# Built once: opening a case is the hot path.
_INSERT_CASE = cases.insert().returning(cases)
_INSERT_CLIENTS = case_clients.insert()


async def _opening_status(
    tx: Transaction, definition: CaseTypeDefinition, wanted: str | None
) -> str:
    allowed = await statuses_of(tx, definition)
    if wanted is None:
        opened = [s for s in allowed if s.grouping == "opened"]
        if not opened:
            raise invalid(("body", "status"), "the case type has no opened status to start in")
        return opened[0].name
    if wanted not in {s.name for s in allowed}:
        raise invalid(("body", "status"), f"status {wanted!r} is not allowed for this case type")
    return wanted


async def _clients(
    tx: Transaction, settings: Settings, request: CaseIn, in_hand: dict[uuid.UUID, Any]
) -> tuple[list[uuid.UUID], list[ContactState]]:
    """The case's client ids, checked, and their contacts' states in the same order."""
    ids = list(dict.fromkeys(request.client_ids))
    found = dict(in_hand) if all(i in in_hand for i in ids) else await get_contacts(tx, ids)
    for i, contact_id in enumerate(ids):
        if contact_id not in found:
            raise invalid(("body", "client_ids", str(i)), f"unknown contact {contact_id}")
        if found[contact_id].merged_into is not None:
            raise invalid(
                ("body", "client_ids", str(i)),
                f"contact {contact_id} was merged into {found[contact_id].merged_into}; use that",
            )
    if request.client is not None:
        contact = await find_or_create_by_email(
            tx, request.client.model_dump(mode="json"), settings
        )
        if contact.id not in ids:
            ids.append(contact.id)
        found[contact.id] = contact
    if not ids:
        raise invalid(("body", "client_ids"), "a case needs at least one client")
    return ids, [contact_state(found[i]) for i in ids]


async def case_state(tx: Transaction, case_id: uuid.UUID) -> CaseState:
    """The full state of a case, as events carry it and the API answers it."""
    row = (await tx.session.execute(sa.select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        raise not_found(f"case {case_id}")
    return await state_of(tx, row)


async def state_of(tx: Transaction, row: Any) -> CaseState:
    return (await states_of(tx, [row]))[0]


async def states_of(
    tx: Transaction, rows: list[Any], *, clients: dict[uuid.UUID, list[ContactState]] | None = None
) -> list[CaseState]:
    """The full state of each case row, in three queries for the whole page. With
    ``clients`` (by case id), the cases were opened in this transaction with those clients:
    no queries (they have no roles or links yet)."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    roles: dict[uuid.UUID, list[RoleState]] = defaultdict(list)
    links: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if clients is None:
        clients = defaultdict(list)
        for c in await tx.session.execute(
            sa.select(case_clients.c.case_id.label("of_case"), contacts)
            .join(contacts, contacts.c.id == case_clients.c.contact_id)
            .where(case_clients.c.case_id.in_(ids))
            .order_by(case_clients.c.case_id, case_clients.c.position)
        ):
            clients[c.of_case].append(contact_state(c))
        await _roles_and_links(tx, ids, roles, links)
    statuses = await statuses_by_name(tx)
    own = [name for name in CaseState.model_fields if name in rows[0]._fields]
    return [
        CaseState(
            **{name: getattr(row, name) for name in own},
            status_class=statuses[row.status].grouping,
            clients=clients[row.id],
            roles=roles[row.id],
            linked_case_ids=links[row.id],
        )
        for row in rows
    ]


async def _roles_and_links(
    tx: Transaction,
    ids: list[uuid.UUID],
    roles: dict[uuid.UUID, list[RoleState]],
    links: dict[uuid.UUID, list[uuid.UUID]],
) -> None:
    for r in await tx.session.execute(
        sa.select(case_roles)
        .where(case_roles.c.case_id.in_(ids))
        .order_by(case_roles.c.start_date, case_roles.c.created_at)
    ):
        roles[r.case_id].append(
            RoleState(
                id=r.id,
                role=r.role,
                contact_id=r.contact_id,
                start_date=r.start_date,
                end_date=r.end_date,
            )
        )
    for link in await tx.session.execute(
        sa.select(case_links.c.case_id, case_links.c.linked_case_id)
        .where(case_links.c.case_id.in_(ids))
        .order_by(case_links.c.created_at)
    ):
        links[link.case_id].append(link.linked_case_id)


async def record_case_event(
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
        case_history.insert(),
        dict(
            case_id=state.id,
            actor=actor,
            action=event_type,
            changes={k: v.model_dump(mode="json") for k, v in changes.items()},
        ),
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
