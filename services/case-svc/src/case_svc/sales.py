"""What quotations and invoices share: their line items (priced by ``money``), the
instance feature each needs, what changed between two states, and their events on
``sales.events`` (keyed by the case id)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from case_svc.cases import case_state
from case_svc.config import Settings
from case_svc.money import priced
from case_svc.permissions import ensure_can_see
from case_svc.tables import cases, instances
from casestream import topics
from casestream.commands import Caller, conflict, ensure_version, invalid, not_found
from casestream.contracts.case import Change
from casestream.contracts.inputs import Line
from casestream.contracts.notify import Attachment, SendEmail
from casestream.contracts.sales import SalesEvent
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction


class LineIn(BaseModel):
    """Numbers as JSON numbers or decimal strings ("12.50"); percentages of 0-100."""

    model_config = ConfigDict(extra="forbid")

    description: Line = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    discount: Decimal = Field(default=Decimal(0), ge=0, le=100, decimal_places=2)  # off the line
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, le=100, decimal_places=2)  # on the net


def priced_lines(given: list[LineIn]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    return priced(
        [
            {
                "description": line.description,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "discount": str(line.discount),
                "tax_rate": str(line.tax_rate),
            }
            for line in given
        ]
    )


async def lock_document(
    tx: Transaction,
    caller: Caller,
    table: sa.Table,
    kind: str,
    document_id: uuid.UUID,
    version: int | None,
    *,
    for_update: bool = True,
) -> Any:
    """A quotation's or invoice's row, locked for this transaction unless ``for_update`` is
    False (only read); 404, 403 (its case is outside the caller's rights) or 409 (another
    version than the caller saw) as for cases."""
    query = sa.select(table).where(table.c.id == document_id)
    row = (await tx.session.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise not_found(f"{kind} {document_id}")
    if caller.staff is not None:
        case = (await tx.session.execute(sa.select(cases).where(cases.c.id == row.case_id))).one()
        ensure_can_see(caller.staff, case)
    ensure_version(kind, row.version, version)
    return row


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Change]:
    """What differs between two states (as JSON), but the version and update time."""
    return {
        k: Change(before=before.get(k), after=after[k])
        for k in after
        if before.get(k) != after[k] and k not in ("version", "updated_at")
    }


async def ensure_feature(tx: Transaction, instance: str, feature: str) -> None:
    features = (
        await tx.session.execute(
            sa.select(instances.c.features).where(instances.c.name == instance)
        )
    ).scalar_one()
    if feature not in (features or []):
        raise invalid(("path", "case_id"), f"instance {instance!r} does not use {feature}")


async def announce(
    tx: Transaction,
    settings: Settings,
    event_type: str,
    case_id: uuid.UUID,
    event: SalesEvent,
) -> None:
    await tx.publish(
        settings.topic(topics.SALES_EVENTS),
        new_envelope(
            type=event_type,
            source="case-svc",
            subject=topics.case_key(case_id),
            data=event,
        ),
    )


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[Line] = Field(
        default_factory=lambda: ["clients"],
        min_length=1,
        max_length=20,
        description="contact ids, `clients` or a role name, as for emails",
    )
    template: Line | None = Field(
        default=None, description="a notify-svc template; default: a plain letter"
    )


EMAILS = uuid.UUID("4f0c39a4-5d9e-4c1b-9d55-0b7c8f3e6a21")  # namespace of their emails' ids


async def email_document(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    body: SendIn,
    case_id: uuid.UUID,
    *,
    key: str,
    template: tuple[str, str],
    pdf: Callable[[str, str | None], bytes],
    filename: str,
    **document: Any,
) -> None:
    """Ask notify-svc (in this transaction: the outbox) to email a quotation or invoice
    (``document``: ``quotation=`` or ``invoice=``, its state as JSON, for the template's
    tokens) with its PDF (``pdf(case subject, client name)``) attached. ``key`` names the
    email for good: asked again, it is the same email. ``template``: the subject and text
    when ``body`` names no template."""
    case = await case_state(tx, case_id)
    client = case.clients[0].display_name if case.clients else None
    notification_id = uuid.uuid5(EMAILS, key)
    command = SendEmail(
        notification_id=notification_id,
        case_id=case_id,
        to=body.to,
        template=body.template,
        subject=None if body.template else template[0],
        body_text=None if body.template else template[1],
        requested_by=caller.actor,
        attachments=[
            Attachment(
                filename=filename,
                content_type="application/pdf",
                content_base64=base64.b64encode(pdf(case.subject, client)).decode(),
            )
        ],
        **document,
    )
    await tx.publish(
        settings.topic(topics.NOTIFY_COMMANDS),
        new_envelope(
            type=command.command_type,
            source="case-svc",
            subject=topics.case_key(case_id),
            data=command,
            id=notification_id,
        ),
    )


def ensure_status(row: Any, kind: str, action: str, allowed: set[str]) -> None:
    """409 unless the document's state allows ``action``."""
    if row.status not in allowed:
        raise conflict(f"a {row.status} {kind} cannot be {action}")


async def save_document(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    table: sa.Table,
    kind: str,
    state_of: Callable[[Any], Awaitable[Any]],
    row: Any,
    values: dict[str, Any],
    event_type: str,
) -> Any:
    """Write ``values`` on the quotation or invoice (``kind``) ``row``, bump its version, and
    say it on sales.events with what changed, in this transaction. Returns its new state."""
    before = (await state_of(row)).model_dump(mode="json")
    updated = (
        await tx.session.execute(
            table.update()
            .where(table.c.id == row.id)
            .values(**values, version=table.c.version + 1, updated_at=sa.func.now())
            .returning(table)
        )
    ).one()
    state = await state_of(updated)
    await announce_document(tx, settings, caller, kind, event_type, state, before)
    return state


async def announce_document(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    kind: str,
    event_type: str,
    state: Any,
    before: dict[str, Any] | None = None,
) -> None:
    """The document's event: its full state, and what changed since ``before``."""
    changed = changes(before, state.model_dump(mode="json")) if before is not None else {}
    event = SalesEvent(**{kind: state}, changes=changed, actor=caller.actor)
    await announce(tx, settings, event_type, state.case_id, event)
