"""Invoices on the cases of sales instances with the ``invoices`` feature.

An invoice is made from an accepted quotation (its lines and currency) or written directly.
Its states: ``draft`` (editable, no number) → ``issued`` (numbered and emailed to the client
with its PDF) → ``paid`` (its payments reached its total) | ``cancelled`` (it keeps its number
and gets a credit note's). The number (INV-2026-0001) and the credit note's (CN-2026-0001)
are taken in the issuing or cancelling transaction, so a series has no gaps. Payments may
be partial; one given the id of one recorded already is that one (a retry records nothing
twice). Issuing and cancelling need the ``invoices`` right besides the case's."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert

from case_svc.case_changes import lock_case
from case_svc.config import Settings
from case_svc.documents import invoice_pdf
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
from case_svc.tables import invoice_payments, invoices, quotations
from casestream.commands import Caller, conflict, invalid, not_found
from casestream.contracts.inputs import Line, Text
from casestream.contracts.sales import (
    INVOICE_CANCELLED,
    INVOICE_CREATED,
    INVOICE_ISSUED,
    INVOICE_PAID,
    INVOICE_PAYMENT_RECORDED,
    INVOICE_UPDATED,
    InvoiceState,
    PaymentState,
)
from casestream.persistence.database import Transaction


class InvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="default: the opportunity's"
    )
    notes: Text | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=200)


class InvoicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    notes: Text | None = None
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=200)


class IssueIn(SendIn):
    due_date: date | None = Field(default=None, description="default: 30 days from today")


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(default=None, description="yours: sent again, it is one")
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    paid_on: date | None = Field(default=None, description="default: today")
    reference: Line | None = None


# The letter when no template is named: {{ invoice.* }} and the case's tokens.
DEFAULT_SUBJECT = "Invoice {{ invoice.number }}: {{ case.subject }}"
DEFAULT_BODY = """Hello,

please find attached our invoice {{ invoice.number }} of {{ invoice.issued_on }}, \\
due on {{ invoice.due_date }}.

Total: {{ invoice.total }} {{ invoice.currency }} (tax {{ invoice.tax }})
"""
PAYMENT_TERMS_DAYS = 30


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def state_of(tx: Transaction, row: Any) -> InvoiceState:
    paid = (
        await tx.session.execute(
            sa.select(invoice_payments)
            .where(invoice_payments.c.invoice_id == row.id)
            .order_by(invoice_payments.c.recorded_at, invoice_payments.c.id)
        )
    ).all()
    fields = {c: getattr(row, c) for c in row._fields if c in InvoiceState.model_fields}
    return InvoiceState(
        **fields
        | {name: _money(getattr(row, name)) for name in ("subtotal", "tax", "total", "paid")},
        balance=_money(row.total - row.paid),
        payments=[
            PaymentState(
                id=p.id,
                amount=_money(p.amount),
                paid_on=p.paid_on,
                reference=p.reference,
                recorded_by=p.recorded_by,
                recorded_at=p.recorded_at,
            )
            for p in paid
        ],
    )


async def create(
    tx: Transaction, settings: Settings, caller: Caller, case_id: uuid.UUID, body: InvoiceIn
) -> InvoiceState:
    """A draft written directly."""
    case = await lock_case(tx, case_id, staff=caller.staff)
    await ensure_feature(tx, case.instance, "invoices")
    currency = body.currency or (case.opportunity or {}).get("currency")
    if not currency:
        raise invalid(("body", "currency"), "the opportunity has no currency: give one")
    lines, totals = priced_lines(body.lines)
    values = dict(currency=currency, lines=lines, notes=body.notes, **totals)
    return await _insert(tx, settings, caller, case, values)


async def from_quotation(
    tx: Transaction, settings: Settings, caller: Caller, quotation_id: uuid.UUID
) -> InvoiceState:
    """A draft of an accepted quotation: its lines, totals and currency."""
    quotation = (
        await tx.session.execute(
            sa.select(quotations).where(quotations.c.id == quotation_id).with_for_update()
        )
    ).first()
    if quotation is None:
        raise not_found(f"quotation {quotation_id}")
    case = await lock_case(tx, quotation.case_id, staff=caller.staff)
    await ensure_feature(tx, case.instance, "invoices")
    if quotation.status != "accepted":
        raise conflict(f"a {quotation.status} quotation is not invoiced: accept it first")
    made = await tx.session.scalar(
        sa.select(invoices.c.id).where(invoices.c.quotation_id == quotation_id)
    )
    if made is not None:
        raise conflict(f"the quotation was invoiced already: invoice {made}")
    values = dict(
        quotation_id=quotation.id,
        currency=quotation.currency,
        lines=quotation.lines,
        subtotal=quotation.subtotal,
        tax=quotation.tax,
        total=quotation.total,
        notes=quotation.notes,
    )
    return await _insert(tx, settings, caller, case, values)


async def _insert(
    tx: Transaction, settings: Settings, caller: Caller, case: Any, values: dict[str, Any]
) -> InvoiceState:
    row = (
        await tx.session.execute(
            invoices.insert()
            .values(
                id=uuid.uuid4(),
                case_id=case.id,
                instance=case.instance,
                status="draft",
                created_by=caller.actor,
                **values,
            )
            .returning(invoices)
        )
    ).one()
    state = await state_of(tx, row)
    await announce_document(tx, settings, caller, "invoice", INVOICE_CREATED, state)
    return state


async def lock(
    tx: Transaction,
    caller: Caller,
    invoice_id: uuid.UUID,
    version: int | None,
    *,
    for_update: bool = True,
) -> Any:
    """The invoice's row: see ``sales.lock_document``."""
    return await lock_document(
        tx, caller, invoices, "invoice", invoice_id, version, for_update=for_update
    )


async def edit(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    invoice_id: uuid.UUID,
    patch: InvoicePatch,
    now: datetime,
    version: int | None = None,
) -> InvoiceState:
    row = await lock(tx, caller, invoice_id, version)
    _ensure_status(row, "edited", {"draft"})
    given = patch.model_fields_set
    values: dict[str, Any] = {n: getattr(patch, n) for n in ("currency", "notes") if n in given}
    if "currency" in values and values["currency"] is None:
        raise invalid(("body", "currency"), "an invoice needs its currency")
    if patch.lines is not None:
        values["lines"], totals = priced_lines(patch.lines)
        values.update(totals)
    return await _save(tx, settings, caller, row, values, INVOICE_UPDATED)


async def issue(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    invoice_id: uuid.UUID,
    body: IssueIn,
    now: datetime,
    version: int | None = None,
) -> InvoiceState:
    """Numbered (the next of its instance's series, in this transaction) and emailed."""
    row = await lock(tx, caller, invoice_id, version)
    _ensure_status(row, "issued", {"draft"})
    today = now.date()
    due = body.due_date or today + timedelta(days=PAYMENT_TERMS_DAYS)
    if due < today:
        raise invalid(("body", "due_date"), "a due date from today on")
    number = await take_number(tx, row.instance, "INV", today.year)
    values = {"status": "issued", "number": number, "issued_on": today, "due_date": due}
    state = await _save(tx, settings, caller, row, values, INVOICE_ISSUED)
    await email_document(
        tx,
        settings,
        caller,
        body,
        state.case_id,
        key=f"invoice:{state.id}:issued",
        template=(DEFAULT_SUBJECT, DEFAULT_BODY),
        pdf=lambda title, client: invoice_pdf(state, title=title, client=client),
        filename=f"{number}.pdf",
        invoice=state.model_dump(mode="json"),
    )
    return state


async def record_payment(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    invoice_id: uuid.UUID,
    body: PaymentIn,
    now: datetime,
    version: int | None = None,
) -> InvoiceState:
    """A payment against an issued invoice, no more than its balance; the one that settles
    it makes it paid."""
    row = await lock(tx, caller, invoice_id, version)
    if body.id is not None:
        known = await tx.session.scalar(
            sa.select(invoice_payments.c.invoice_id).where(invoice_payments.c.id == body.id)
        )
        if known == row.id:
            return await state_of(tx, row)  # recorded already: a retry
        if known is not None:
            raise conflict(f"payment {body.id} was recorded on another invoice")
    _ensure_status(row, "paid", {"issued"})
    balance = row.total - row.paid
    if body.amount > balance:
        raise invalid(("body", "amount"), f"more than the balance due ({_money(balance)})")
    await tx.session.execute(
        insert(invoice_payments).values(
            id=body.id or uuid.uuid4(),
            invoice_id=row.id,
            amount=body.amount,
            paid_on=body.paid_on or now.date(),
            reference=body.reference,
            recorded_by=caller.actor,
        )
    )
    settled = body.amount == balance
    values: dict[str, Any] = {"paid": row.paid + body.amount}
    if settled:
        values["status"] = "paid"
    return await _save(
        tx, settings, caller, row, values, INVOICE_PAID if settled else INVOICE_PAYMENT_RECORDED
    )


async def cancel(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    invoice_id: uuid.UUID,
    now: datetime,
    version: int | None = None,
) -> InvoiceState:
    """A draft is simply cancelled; an issued one keeps its number and gets a credit note's.
    One with payments is not cancelled (refund them first)."""
    row = await lock(tx, caller, invoice_id, version)
    _ensure_status(row, "cancelled", {"draft", "issued"})
    if row.paid > 0:
        raise conflict("payments were recorded against it: it cannot be cancelled")
    values: dict[str, Any] = {"status": "cancelled"}
    if row.status == "issued":
        values["credit_note_number"] = await take_number(tx, row.instance, "CN", now.year)
    return await _save(tx, settings, caller, row, values, INVOICE_CANCELLED)


def _ensure_status(row: Any, action: str, allowed: set[str]) -> None:
    ensure_status(row, "invoice", action, allowed)


async def _save(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    row: Any,
    values: dict[str, Any],
    event_type: str,
) -> InvoiceState:
    return await save_document(
        tx,
        settings,
        caller,
        invoices,
        "invoice",
        lambda r: state_of(tx, r),
        row,
        values,
        event_type,
    )
