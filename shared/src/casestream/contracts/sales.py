"""case-svc says: ``sales.events``, every change of a quotation (and of an invoice), each
with the document's full state and what changed. Keyed by the case id, like the case's own
events. Money is decimal strings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from casestream.contracts.case import Change
from casestream.contracts.events import EventEnvelope, event_types

QUOTATION_CREATED = "quotation.created"
QUOTATION_UPDATED = "quotation.updated"  # a draft's lines, validity or notes
QUOTATION_SENT = "quotation.sent"
QUOTATION_ACCEPTED = "quotation.accepted"
QUOTATION_DECLINED = "quotation.declined"
QUOTATION_EXPIRED = "quotation.expired"  # sent, and its validity date passed

INVOICE_CREATED = "invoice.created"  # a draft, written directly or from a quotation
INVOICE_UPDATED = "invoice.updated"  # a draft's lines, due date or notes
INVOICE_ISSUED = "invoice.issued"  # numbered, and sent to the client
INVOICE_PAYMENT_RECORDED = "invoice.payment_recorded"
INVOICE_PAID = "invoice.paid"  # its payments reached its total
INVOICE_CANCELLED = "invoice.cancelled"  # it keeps its number and gets a credit note

SALES_EVENT_TYPES = (
    QUOTATION_CREATED,
    QUOTATION_UPDATED,
    QUOTATION_SENT,
    QUOTATION_ACCEPTED,
    QUOTATION_DECLINED,
    QUOTATION_EXPIRED,
    INVOICE_CREATED,
    INVOICE_UPDATED,
    INVOICE_ISSUED,
    INVOICE_PAYMENT_RECORDED,
    INVOICE_PAID,
    INVOICE_CANCELLED,
)

QuotationStatus = Literal["draft", "sent", "accepted", "declined", "expired"]


class DocumentLine(BaseModel):
    description: str
    quantity: str
    unit_price: str
    discount: str = "0"  # percent
    tax_rate: str = "0"  # percent
    net: str  # quantity x unit price less the discount, rounded to cents half up
    tax: str  # net x tax rate, rounded to cents half up
    total: str  # net + tax


class QuotationState(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    instance: str
    number: str  # Q-2026-0001: per instance and year
    status: QuotationStatus
    currency: str
    lines: list[DocumentLine]
    subtotal: str
    tax: str
    total: str
    valid_until: date
    notes: str | None = None
    recipient_contact_id: uuid.UUID | None = None  # whom it was sent to
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    decided_at: datetime | None = None  # accepted, declined or expired
    version: int


InvoiceStatus = Literal["draft", "issued", "paid", "cancelled"]


class PaymentState(BaseModel):
    id: uuid.UUID
    amount: str
    paid_on: date
    reference: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime


class InvoiceState(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    instance: str
    quotation_id: uuid.UUID | None = None  # the accepted quotation it was made from
    number: str | None = None  # INV-2026-0001, taken when issued: no gaps
    status: InvoiceStatus
    currency: str
    lines: list[DocumentLine]
    subtotal: str
    tax: str
    total: str
    paid: str  # the sum of its payments
    balance: str  # total - paid
    issued_on: date | None = None
    due_date: date | None = None
    credit_note_number: str | None = None  # CN-2026-0001, when cancelled after issue
    notes: str | None = None
    payments: list[PaymentState] = Field(default_factory=list)
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class SalesEvent(BaseModel):
    quotation: QuotationState | None = None
    invoice: InvoiceState | None = None
    changes: dict[str, Change] = Field(default_factory=dict)
    actor: str | None = None


class SalesEnvelope(EventEnvelope[SalesEvent]):
    """``sales.events``: one of ``SALES_EVENT_TYPES``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*SALES_EVENT_TYPES)
