"""Finding cases: GET /cases's filters, sorts and keyset pages, and the full state of a page
of cases built in a few queries (not four per case).

Text search is ``ILIKE '%word%'`` on two expressions indexed with pg_trgm (migration 0003):
the case's subject + details, and its clients' names + email. Each word of ``q`` must occur
in one of them."""

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa

from case_svc import tables
from case_svc.permissions import visible_cases
from case_svc.tables import case_clients, cases, contacts
from casestream.http.auth import StaffUser
from casestream.http.pagination import keyset
from casestream.persistence.database import Transaction

Sort = Literal["-created_at", "created_at", "-updated_at", "subject"]
Active = Literal["true", "false", "all"]

# (sort columns, descending); the id breaks ties so the order is total and pages are stable.
SORTS: dict[str, tuple[list[sa.Column[Any]], bool]] = {
    "-created_at": ([cases.c.created_at, cases.c.id], True),
    "created_at": ([cases.c.created_at, cases.c.id], False),
    "-updated_at": ([cases.c.updated_at, cases.c.id], True),
    "subject": ([cases.c.subject, cases.c.id], False),
}

MAX_WORDS = 8
DENSE = 2000  # matches of one word beyond which a search walks the sort order

# Constants inlined (not bound): under a prepared statement's generic plan the planner must
# still see the very expressions migration 0003 indexed.
_SPACE = sa.literal_column("' '", sa.Text)
_EMPTY = sa.literal_column("''", sa.Text)


def case_text(table: sa.FromClause) -> sa.ColumnElement[str]:
    return tables.case_text(table, _SPACE, _EMPTY)


CONTACT_TEXT = tables.contact_text(_SPACE, _EMPTY)


@dataclass
class CaseFilters:
    instance: str | None = None
    case_types: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    assignee: str | None = None  # "me", "none" or a user id
    client_id: uuid.UUID | None = None
    ids: list[uuid.UUID] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    opened_from: date | None = None
    opened_to: date | None = None
    active: Active = "true"
    q: str | None = None


def case_conditions(staff: StaffUser, f: CaseFilters) -> list[sa.ColumnElement[bool]]:
    """The WHERE clause of a search, always narrowed to what the caller may see."""
    where = [visible_cases(staff)]
    if f.active != "all":
        where.append(cases.c.active.is_(f.active == "true"))
    if f.instance:
        where.append(cases.c.instance == f.instance)
    if f.case_types:
        where.append(cases.c.case_type.in_(f.case_types))
    if f.statuses:
        where.append(cases.c.status.in_(f.statuses))
    if f.assignee == "none":
        where.append(cases.c.assignee.is_(None))
    elif f.assignee:
        where.append(cases.c.assignee == (staff.user if f.assignee == "me" else f.assignee))
    if f.client_id:
        of_client = sa.select(case_clients.c.case_id).where(
            case_clients.c.contact_id == f.client_id
        )
        where.append(cases.c.id.in_(of_client))
    if f.ids:
        where.append(cases.c.id.in_(f.ids))
    if f.tags:
        where.append(cases.c.tags.contains(f.tags))
    if f.opened_from:
        where.append(cases.c.start_date >= f.opened_from)
    if f.opened_to:
        where.append(cases.c.start_date <= f.opened_to)
    return where


def search_words(q: str | None) -> list[str]:
    return list(dict.fromkeys((q or "").split()))[:MAX_WORDS]


async def text_matches(tx: Transaction, word: str) -> sa.ColumnElement[bool]:
    """Cases whose subject, details or a client's name or email contains ``word``.

    A word found in few cases: the ids from both trigram indexes (a union), then sorted. A
    word found in many: walk the sort order and test each case, as the first page fills
    quickly; collecting every match first would cost more than the whole page. A probe of
    at most DENSE + 1 matches tells which."""
    pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matched = cases.alias("matched")  # not correlated with the outer query's cases
    in_case = sa.select(matched.c.id).where(case_text(matched).ilike(pattern))
    client_named = (
        sa.select(case_clients.c.case_id)
        .join(contacts, contacts.c.id == case_clients.c.contact_id)
        .where(CONTACT_TEXT.ilike(pattern))
    )
    probe = sa.union_all(in_case, client_named).limit(DENSE + 1).subquery()
    found = (await tx.session.execute(sa.select(sa.func.count()).select_from(probe))).scalar_one()
    if found <= DENSE:
        return cases.c.id.in_(sa.union(in_case, client_named))
    return sa.or_(
        case_text(cases).ilike(pattern),
        sa.exists(client_named.where(case_clients.c.case_id == cases.c.id)),
    )


async def page_query(
    tx: Transaction, staff: StaffUser, f: CaseFilters, sort: Sort, cursor: str | None, limit: int
) -> sa.Select:
    """One page (plus one row, to know whether there is another) of whole case rows."""
    columns, descending = SORTS[sort]
    order = [c.desc() for c in columns] if descending else list(columns)
    words = [await text_matches(tx, word) for word in search_words(f.q)]
    return (
        sa.select(cases)
        .where(*case_conditions(staff, f), *words, keyset(columns, cursor, descending=descending))
        .order_by(*order)
        .limit(limit + 1)
    )


def cursor_key(sort: Sort) -> Any:
    columns, _ = SORTS[sort]

    def key(row: Any) -> list[Any]:
        values = [getattr(row, c.name) for c in columns]
        return [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values]

    return key
