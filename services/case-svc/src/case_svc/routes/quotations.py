"""Staff HTTP: quotations on sales cases. Each action answers the quotation, 409 with the
reason when its state does not allow it, and honours ``If-Match: <version>`` as case
actions do. Who may see the case may work on its quotations."""

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query

from case_svc import quotations
from case_svc.permissions import visible_cases
from case_svc.routes.case_actions import IfMatch
from case_svc.sales import SendIn
from case_svc.tables import cases
from case_svc.tables import quotations as table
from casestream.commands import Caller
from casestream.contracts.inputs import Line
from casestream.contracts.sales import QuotationState, QuotationStatus
from casestream.http.auth import Staff, StaffUser
from casestream.http.if_match import expected_version
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of
from casestream.http.state import Service
from casestream.service import Runtime

router = APIRouter(tags=["quotations"])


class DocumentAction:
    """One action on a quotation or invoice in its own transaction, as the calling staff
    user, with the service's clock and the version ``If-Match`` names."""

    def __init__(self, runtime: Runtime, staff: StaffUser, if_match: str | None, record: str):
        self.runtime, self.staff, self.if_match, self.record = runtime, staff, if_match, record

    async def __call__(self, action, document_id: uuid.UUID, *args):
        now = self.runtime.clock.now()
        async with self.runtime.database.transaction() as tx:
            return await action(
                tx,
                self.runtime.settings,
                Caller(actor=self.staff.user, staff=self.staff),
                document_id,
                *args,
                now,
                version=expected_version(self.if_match, self.record),
            )


def quotation_action(staff: Staff, runtime: Service, if_match: IfMatch = None):
    return DocumentAction(runtime, staff, if_match, "a quotation")


Act = Annotated[DocumentAction, Depends(quotation_action)]


@router.post("/cases/{case_id}/quotations", response_model=QuotationState, status_code=201)
async def create_quotation(
    case_id: uuid.UUID, body: quotations.QuotationIn, staff: Staff, runtime: Service
):
    """A draft quotation on the case, numbered (Q-2026-0001), its lines priced."""
    today = runtime.clock.now().date()
    async with runtime.database.transaction() as tx:
        caller = Caller(actor=staff.user, staff=staff)
        return await quotations.create(tx, runtime.settings, caller, case_id, body, today)


@router.get("/quotations", response_model=Page[QuotationState])
async def list_quotations(
    staff: Staff,
    runtime: Service,
    case_id: uuid.UUID | None = None,
    instance: Line | None = None,
    status: Annotated[QuotationStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Quotations on the cases the caller may see, newest first."""
    equal = {"case_id": case_id, "instance": instance, "status": status}
    async with runtime.database.session() as session:
        items, next_cursor = await page_of_documents(session, table, staff, equal, limit, cursor)
    return {"items": [quotations.state_of(r) for r in items], "next_cursor": next_cursor}


async def page_of_documents(
    session: Any,
    documents: sa.Table,
    staff: StaffUser,
    equal: dict[str, Any],
    limit: int,
    cursor: str | None,
    *where: Any,
) -> tuple[list[Any], str | None]:
    """A page of quotations or invoices (``documents``) on the cases ``staff`` may see,
    newest first, whose columns are ``equal`` to the values given (None: any)."""
    order = [documents.c.created_at, documents.c.id]
    query = (
        sa.select(documents)
        .join(cases, cases.c.id == documents.c.case_id)
        .where(visible_cases(staff), keyset(order, cursor, descending=True), *where)
        .where(*(documents.c[k] == v for k, v in equal.items() if v is not None))
        .order_by(*(c.desc() for c in order))
        .limit(limit + 1)
    )
    rows = (await session.execute(query)).all()
    return page_of(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])


@router.get("/quotations/{quotation_id}", response_model=QuotationState)
async def get_quotation(quotation_id: uuid.UUID, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
        caller = Caller(actor=staff.user, staff=staff)
        found = await quotations.lock(tx, caller, quotation_id, None, for_update=False)
        return quotations.state_of(found)


@router.patch("/quotations/{quotation_id}", response_model=QuotationState)
async def edit_quotation(quotation_id: uuid.UUID, body: quotations.QuotationPatch, act: Act):
    """A draft's lines, currency, validity date or notes."""
    return await act(_edit, quotation_id, body)


async def _edit(tx, settings, caller, quotation_id, body, now, version=None):
    return await quotations.edit(tx, settings, caller, quotation_id, body, now.date(), version)


@router.post("/quotations/{quotation_id}/send", response_model=QuotationState)
async def send_quotation(quotation_id: uuid.UUID, act: Act, body: SendIn | None = None):
    """Sent: notify-svc emails it to the client (by default) with its PDF attached."""
    return await act(quotations.send, quotation_id, body or SendIn())


@router.post("/quotations/{quotation_id}/accept", response_model=QuotationState)
async def accept_quotation(quotation_id: uuid.UUID, act: Act):
    """Accepted: the opportunity's amount becomes the quotation's total."""
    return await act(quotations.accept, quotation_id)


@router.post("/quotations/{quotation_id}/decline", response_model=QuotationState)
async def decline_quotation(quotation_id: uuid.UUID, act: Act):
    return await act(quotations.decline, quotation_id)
