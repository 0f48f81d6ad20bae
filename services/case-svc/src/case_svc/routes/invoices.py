"""Staff HTTP: invoices on sales cases. Each action answers the invoice, 409 with the reason
when its state does not allow it, and honours ``If-Match: <version>``. Who may see the case
may work on its invoices; issuing and cancelling need the ``invoices`` right too."""

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query

from case_svc import invoices
from case_svc.routes.case_actions import IfMatch
from case_svc.routes.quotations import DocumentAction, page_of_documents
from case_svc.tables import invoices as table
from casestream.commands import Caller
from casestream.contracts.inputs import Line
from casestream.contracts.sales import InvoiceState, InvoiceStatus
from casestream.http.auth import Staff, requires
from casestream.http.pagination import Cursor, Limit, Page
from casestream.http.state import Service

router = APIRouter(tags=["invoices"])


def invoice_action(staff: Staff, runtime: Service, if_match: IfMatch = None):
    return DocumentAction(runtime, staff, if_match, "an invoice")


Act = Annotated[DocumentAction, Depends(invoice_action)]
MayInvoice = [Depends(requires("invoices"))]  # 403 before the body is read


@router.post("/cases/{case_id}/invoices", response_model=InvoiceState, status_code=201)
async def create_invoice(
    case_id: uuid.UUID, body: invoices.InvoiceIn, staff: Staff, runtime: Service
):
    """A draft invoice written directly, its lines priced; numbered when issued."""
    async with runtime.database.transaction() as tx:
        caller = Caller(actor=staff.user, staff=staff)
        return await invoices.create(tx, runtime.settings, caller, case_id, body)


@router.post("/quotations/{quotation_id}/invoice", response_model=InvoiceState, status_code=201)
async def invoice_quotation(quotation_id: uuid.UUID, staff: Staff, runtime: Service):
    """A draft invoice of an accepted quotation (one per quotation)."""
    async with runtime.database.transaction() as tx:
        caller = Caller(actor=staff.user, staff=staff)
        return await invoices.from_quotation(tx, runtime.settings, caller, quotation_id)


@router.get("/invoices", response_model=Page[InvoiceState])
async def list_invoices(
    staff: Staff,
    runtime: Service,
    case_id: uuid.UUID | None = None,
    instance: Line | None = None,
    status: Annotated[InvoiceStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="issued, due before today")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Invoices on the cases the caller may see, newest first."""
    equal = {"case_id": case_id, "instance": instance, "status": status}
    where = []
    if overdue is not None:
        late = sa.and_(table.c.status == "issued", table.c.due_date < runtime.clock.now().date())
        where.append(late if overdue else sa.not_(late))
    async with runtime.database.transaction() as tx:
        items, next_cursor = await page_of_documents(
            tx.session, table, staff, equal, limit, cursor, *where
        )
        return {
            "items": [await invoices.state_of(tx, r) for r in items],
            "next_cursor": next_cursor,
        }


@router.get("/invoices/{invoice_id}", response_model=InvoiceState)
async def get_invoice(invoice_id: uuid.UUID, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
        caller = Caller(actor=staff.user, staff=staff)
        found = await invoices.lock(tx, caller, invoice_id, None, for_update=False)
        return await invoices.state_of(tx, found)


@router.patch("/invoices/{invoice_id}", response_model=InvoiceState)
async def edit_invoice(invoice_id: uuid.UUID, body: invoices.InvoicePatch, act: Act):
    """A draft's lines, currency or notes."""
    return await act(invoices.edit, invoice_id, body)


@router.post("/invoices/{invoice_id}/issue", response_model=InvoiceState, dependencies=MayInvoice)
async def issue_invoice(invoice_id: uuid.UUID, act: Act, body: invoices.IssueIn | None = None):
    """Numbered (the next of the instance's series: no gaps) and emailed with its PDF."""
    return await act(invoices.issue, invoice_id, body or invoices.IssueIn())


@router.post("/invoices/{invoice_id}/payments", response_model=InvoiceState)
async def record_payment(invoice_id: uuid.UUID, body: invoices.PaymentIn, act: Act):
    """A payment (partial ones too); the one that settles the balance makes it paid."""
    return await act(invoices.record_payment, invoice_id, body)


@router.post("/invoices/{invoice_id}/cancel", response_model=InvoiceState, dependencies=MayInvoice)
async def cancel_invoice(invoice_id: uuid.UUID, act: Act):
    """Cancelled; an issued one keeps its number and gets a credit note's."""
    return await act(invoices.cancel, invoice_id)
