"""Quotations on the cases of sales instances with the ``quotations`` feature.

A quotation has line items priced exactly (``money``: the rounding rule), a number per
instance and year (``numbering``: Q-2026-0001), a validity date, and its states: ``draft``
(editable) → ``sent`` → ``accepted`` | ``declined`` | ``expired`` (sent, and its validity
date passed: ``expire_due``, the expiry worker's). Accepting one sets the opportunity's
amount and currency to its total, a change of the case's own. Every change is written with
its event on ``sales.events`` (the full quotation and what changed), in one transaction.
Rights are the case's: who may see the case may work on its quotations."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from case_svc.case_changes import lock_case, save_case
from case_svc.config import Settings
from case_svc.documents import quotation_pdf
from case_svc.numbering import take_number
from case_svc.sales import (
    LineIn,
    SendIn,
    announce_document,
    email_document,
    ensure_feature,
    ensure_status,
    lock_document,
    priced_lines,
    save_document,
)
from case_svc.tables import quotations
from casestream.commands import Caller, conflict, invalid
from casestream.contracts.case import CASE_UPDATED
from casestream.contracts.inputs import Text
from casestream.contracts.sales import (
    QUOTATION_ACCEPTED,
    QUOTATION_CREATED,
    QUOTATION_DECLINED,
    QUOTATION_EXPIRED,
    QUOTATION_SENT,
    QUOTATION_UPDATED,
    QuotationState,
)
from casestream.persistence.database import Transaction


class QuotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="default: the opportunity's"
    )
    valid_until: date | None = Field(default=None, description="default: 30 days from today")
    notes: Text | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=200)


class QuotationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    valid_until: date | None = None
    notes: Text | None = None
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=200)


def state_of(row: Any) -> QuotationState:
    return QuotationState(
        **{c: getattr(row, c) for c in row._fields if c in QuotationState.model_fields}
        | {"subtotal": f"{row.subtotal:.2f}", "tax": f"{row.tax:.2f}", "total": f"{row.total:.2f}"}
    )


async def create(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    body: QuotationIn,
    today: date,
) -> QuotationState:
    case = await lock_case(tx, case_id, staff=caller.staff)
    await ensure_feature(tx, case.instance, "quotations")
    currency = body.currency or (case.opportunity or {}).get("currency")
    if not currency:
        raise invalid(("body", "currency"), "the opportunity has no currency: give one")
    valid_until = body.valid_until or today + timedelta(days=settings.quotation_validity_days)
    if valid_until < today:
        raise invalid(("body", "valid_until"), "the validity date has passed")
    lines, totals = priced_lines(body.lines)
    row = (
        await tx.session.execute(
            quotations.insert()
            .values(
                id=uuid.uuid4(),
                case_id=case.id,
                instance=case.instance,
                number=await take_number(tx, case.instance, "Q", today.year),
                status="draft",
                currency=currency,
                lines=lines,
                valid_until=valid_until,
                notes=body.notes,
                created_by=caller.actor,
                **totals,
            )
            .returning(quotations)
        )
    ).one()
    state = state_of(row)
    await announce_document(tx, settings, caller, "quotation", QUOTATION_CREATED, state)
    return state


async def lock(
    tx: Transaction,
    caller: Caller,
    quotation_id: uuid.UUID,
    version: int | None,
    *,
    for_update: bool = True,
) -> Any:
    """The quotation's row: see ``sales.lock_document``. A reader takes no lock, so that it
    does not make the expiry worker skip the quotation."""
    return await lock_document(
        tx, caller, quotations, "quotation", quotation_id, version, for_update=for_update
    )


async def edit(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    quotation_id: uuid.UUID,
    patch: QuotationPatch,
    today: date,
    version: int | None = None,
) -> QuotationState:
    row = await lock(tx, caller, quotation_id, version)
    _ensure_status(row, "edited", {"draft"})
    given = patch.model_fields_set
    values = {n: getattr(patch, n) for n in ("currency", "valid_until", "notes") if n in given}
    if "currency" in values and values["currency"] is None:
        raise invalid(("body", "currency"), "a quotation needs its currency")
    if "valid_until" in values and (values["valid_until"] is None or values["valid_until"] < today):
        raise invalid(("body", "valid_until"), "a validity date from today on")
    if patch.lines is not None:
        values["lines"], totals = priced_lines(patch.lines)
        values.update(totals)
    return await _save(tx, settings, caller, row, values, QUOTATION_UPDATED)


# The letter when no template is named: {{ quotation.* }} and the case's tokens.
DEFAULT_SUBJECT = "Quotation {{ quotation.number }}: {{ case.subject }}"
DEFAULT_BODY = """Hello,

please find attached our quotation {{ quotation.number }}, valid until \
{{ quotation.valid_until }}.

{% for line in quotation.lines %}- {{ line.description }}: {{ line.quantity }} x \
{{ line.unit_price }} = {{ line.total }} {{ quotation.currency }}
{% endfor %}
Total: {{ quotation.total }} {{ quotation.currency }} (tax {{ quotation.tax }})
"""


async def send(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    quotation_id: uuid.UUID,
    body: SendIn,
    now: datetime,
    version: int | None = None,
) -> QuotationState:
    """Sent: an email to the client (notify-svc renders it; the PDF goes with it), in the
    same transaction as the change."""
    row = await lock(tx, caller, quotation_id, version)
    _ensure_status(row, "sent", {"draft"})
    if row.valid_until < now.date():
        raise conflict(f"its validity date ({row.valid_until}) has passed: change it first")
    state = await _save(
        tx, settings, caller, row, {"status": "sent", "sent_at": now}, QUOTATION_SENT
    )
    await email_document(
        tx,
        settings,
        caller,
        body,
        state.case_id,
        key=f"quotation:{state.id}:sent",
        template=(DEFAULT_SUBJECT, DEFAULT_BODY),
        pdf=lambda title, client: quotation_pdf(state, title=title, client=client),
        filename=f"{state.number}.pdf",
        quotation=state.model_dump(mode="json"),
    )
    return state


async def accept(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    quotation_id: uuid.UUID,
    now: datetime,
    version: int | None = None,
) -> QuotationState:
    """Accepted: the opportunity's amount and currency become the quotation's total."""
    row = await lock(tx, caller, quotation_id, version)
    _ensure_status(row, "accepted", {"sent"})
    if row.valid_until < now.date():
        raise conflict(f"its validity ended on {row.valid_until}")
    case = await lock_case(tx, row.case_id, staff=caller.staff)
    opportunity = {**(case.opportunity or {}), "amount": f"{row.total:.2f}"}
    opportunity["currency"] = row.currency
    await save_case(
        tx,
        settings,
        case,
        values={"opportunity": opportunity},
        event_type=CASE_UPDATED,
        actor=caller.actor,
    )
    values = {"status": "accepted", "decided_at": now}
    return await _save(tx, settings, caller, row, values, QUOTATION_ACCEPTED)


async def decline(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    quotation_id: uuid.UUID,
    now: datetime,
    version: int | None = None,
) -> QuotationState:
    row = await lock(tx, caller, quotation_id, version)
    _ensure_status(row, "declined", {"sent"})
    values = {"status": "declined", "decided_at": now}
    return await _save(tx, settings, caller, row, values, QUOTATION_DECLINED)


async def expire_due(tx: Transaction, settings: Settings, now: datetime, limit: int = 500) -> int:
    """Sent quotations whose validity date is before ``now``'s date become expired, a batch
    at a time (SKIP LOCKED: replicas share the work). Returns how many."""
    due = (
        await tx.session.execute(
            sa.select(quotations)
            .where(quotations.c.status == "sent", quotations.c.valid_until < now.date())
            .order_by(quotations.c.valid_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in due:
        values = {"status": "expired", "decided_at": now}
        await _save(tx, settings, Caller(actor=None, staff=None), row, values, QUOTATION_EXPIRED)
    return len(due)


def _ensure_status(row: Any, action: str, allowed: set[str]) -> None:
    ensure_status(row, "quotation", action, allowed)


async def _save(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    row: Any,
    values: dict[str, Any],
    event_type: str,
) -> QuotationState:
    return await save_document(
        tx, settings, caller, quotations, "quotation", _state_now, row, values, event_type
    )


async def _state_now(row: Any) -> QuotationState:
    return state_of(row)
