"""Staff HTTP: finding cases (GET /cases) and the dashboards (GET /dashboard/summary, the
caseload; GET /dashboard/pipeline, the sales pipeline)."""

import uuid
from datetime import date
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from case_svc.cases import states_of
from case_svc.dashboard import DashboardSummary, summary
from case_svc.finding import Active, CaseFilters, Sort, cursor_key, page_query
from case_svc.permissions import access_to
from case_svc.pipeline import Pipeline, PipelineFilters, pipeline
from case_svc.schemas import Case
from case_svc.tables import instances
from casestream.commands import forbidden, invalid, not_found
from casestream.contracts.inputs import Line
from casestream.http.auth import Staff, StaffUser
from casestream.http.pagination import Cursor, Limit, Page, page_of
from casestream.http.state import Service
from casestream.persistence.database import Transaction

router = APIRouter(tags=["finding"])

Names = Annotated[list[Line] | None, Query()]
# Cases asked for by id in one list (a page showing activities of many cases names them).
MAX_IDS = 100


@router.get("/cases", response_model=Page[Case])
async def find_cases(
    staff: Staff,
    runtime: Service,
    instance: Line | None = None,
    case_type: Names = None,
    status: Names = None,
    assignee: Annotated[
        Line | None, Query(description="`me`, `none` (the available pool) or a user id")
    ] = None,
    client_id: uuid.UUID | None = None,
    id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=MAX_IDS, description="these cases only (repeat it; at most 100)"),
    ] = None,
    tag: Annotated[list[Line] | None, Query(description="cases carrying every one")] = None,
    opened_from: date | None = None,
    opened_to: date | None = None,
    active: Active = "true",
    q: Annotated[
        Line | None,
        Query(max_length=200, description="words in subject, details or a client's name or email"),
    ] = None,
    sort: Sort = "-created_at",
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Cases the caller may see, newest first by default. Repeat ``case_type``, ``status``,
    ``tag`` or ``id`` to give several."""
    if opened_from and opened_to and opened_from > opened_to:
        raise invalid(("query", "opened_to"), "opened_to is before opened_from")
    if instance:
        ensure_instance_rights(staff, instance)
    filters = CaseFilters(
        instance=instance,
        case_types=case_type or [],
        statuses=status or [],
        assignee=assignee,
        client_id=client_id,
        ids=id or [],
        tags=tag or [],
        opened_from=opened_from,
        opened_to=opened_to,
        active=active,
        q=q,
    )
    async with runtime.database.transaction() as tx:
        query = await page_query(tx, staff, filters, sort, cursor, limit)
        rows = (await tx.session.execute(query)).all()
        items, next_cursor = page_of(rows, limit, cursor_key(sort))
        return {"items": await states_of(tx, items), "next_cursor": next_cursor}


@router.get("/dashboard/summary", response_model=DashboardSummary)
async def dashboard_summary(staff: Staff, runtime: Service, instance: Line | None = None):
    """Counts over the cases the caller may see (every instance unless ``instance``)."""
    async with runtime.database.transaction() as tx:
        if instance:
            await ensure_instance_exists(tx, instance)
            ensure_instance_rights(staff, instance)
        return await summary(tx, staff, instance)


Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")]


@router.get("/dashboard/pipeline", response_model=Pipeline)
async def dashboard_pipeline(
    staff: Staff,
    runtime: Service,
    instance: Line | None = None,
    case_type: Line | None = None,
    owner: Annotated[Line | None, Query(description="a user, `me` or `none`")] = None,
    currency: Currency = None,
    closed_from: date | None = None,
    closed_to: date | None = None,
):
    """The sales pipeline over the opportunities the caller may see (every sales instance
    unless ``instance``): per status, the forecast by expected-close month, the win rate of
    those closed from ``closed_from`` to ``closed_to`` (default: the 365 days to today), and
    per owner. Money per currency, as decimal strings."""
    if closed_from and closed_to and closed_from > closed_to:
        raise invalid(("query", "closed_from"), "closed_from is after closed_to")
    who = {"me": staff.user, "none": ""}.get(owner, owner) if owner is not None else None
    filters = PipelineFilters(instance, case_type, who, currency, closed_from, closed_to)
    async with runtime.database.transaction() as tx:
        if instance:
            await ensure_instance_exists(tx, instance)
            ensure_instance_rights(staff, instance)
            await ensure_sales_instance(tx, instance)
        return await pipeline(tx, staff, filters, runtime.clock.now())


async def ensure_sales_instance(tx: Transaction, instance: str) -> None:
    kind = (
        await tx.session.execute(
            sa.select(instances.c.instance_type).where(instances.c.name == instance)
        )
    ).scalar_one()
    if kind != "sales_opportunity":
        raise invalid(("query", "instance"), f"{instance!r} is not a sales-opportunity instance")


def ensure_instance_rights(staff: StaffUser, instance: str) -> None:
    """403 when the token has no rights at all on ``instance``."""
    if access_to(staff, instance) is None:
        raise forbidden(f"this token has no rights on instance {instance!r}")


async def ensure_instance_exists(tx: Transaction, instance: str) -> None:
    found = await tx.session.execute(
        sa.select(instances.c.name).where(instances.c.name == instance)
    )
    if found.first() is None:
        raise not_found(f"instance {instance!r}")
