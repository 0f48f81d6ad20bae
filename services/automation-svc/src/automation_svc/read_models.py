"""What automation-svc learns from other services' events: the current state of cases and
activities (re-read when a delayed action comes due), case type definitions and template
names (to check rules). Each upsert keeps the newest version, whatever the arrival order."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from automation_svc.tables import activities, case_types, cases, sales_documents, templates
from casestream.contracts.activity import ActivityState
from casestream.contracts.case import CaseState, CaseTypeVersion
from casestream.contracts.notify import TemplateSaved
from casestream.persistence.database import Transaction
from casestream.persistence.read_models import keep_case_type, keep_cases
from casestream.persistence.upserts import any_of, upsert_newest


async def take_case_advisory_locks(tx: Transaction, case_ids: Iterable[uuid.UUID | None]) -> None:
    """Case and activity events of one case travel on different topics and are handled side
    by side: these locks make "is the case known? else put the event aside" and "the case is
    here: take what was put aside" happen one after the other, never interleaved. A batch
    takes all its cases' locks at once, before anything else, in one order (the keys'):
    two batches that share cases wait for each other instead of deadlocking."""
    ids = sorted({str(i) for i in case_ids if i is not None})
    if ids:
        await tx.session.execute(_LOCK_CASES, {"ids": ids})


# A volatile function in the SELECT list is evaluated after ORDER BY has sorted the rows:
# the locks are taken in key order.
_LOCK_CASES = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended(id, 0))"
    " FROM unnest(CAST(:ids AS text[])) AS id ORDER BY hashtextextended(id, 0)"
).bindparams(sa.bindparam("ids", type_=ARRAY(sa.Text)))


async def remember_cases(tx: Transaction, batch: Iterable[CaseState]) -> None:
    await keep_cases(tx.session, cases, batch)


async def remember_activities(tx: Transaction, batch: Iterable[ActivityState]) -> None:
    values = [
        dict(
            id=activity.id,
            case_id=activity.case_id,
            type=activity.type,
            status=activity.status,
            state=activity.model_dump(mode="json"),
            updated_at=activity.updated_at,
        )
        for activity in batch
    ]
    await upsert_newest(
        tx.session, activities, values, key="id", newer_by="updated_at", same_counts=True
    )


async def remember_documents(tx: Transaction, batch: Iterable[tuple[str, Any]]) -> None:
    """Quotations and invoices (kind, state) as their events say: the newest version wins."""
    values = [
        dict(
            id=state.id,
            kind=kind,
            case_id=state.case_id,
            state=state.model_dump(mode="json"),
            version=state.version,
        )
        for kind, state in batch
    ]
    await upsert_newest(tx.session, sales_documents, values, key="id", newer_by="version")


async def document_states(
    session: AsyncConnection, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, tuple[str, dict[str, Any]]]:
    """(kind, state) of each quotation or invoice of ``ids`` known, by id."""
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    t = sales_documents
    rows = await session.execute(
        sa.select(t.c.id, t.c.kind, t.c.state).where(any_of(t.c.id, wanted))
    )
    return {r.id: (r.kind, r.state) for r in rows}


async def remember_case_type(tx: Transaction, case_type: CaseTypeVersion) -> None:
    await keep_case_type(tx.session, case_types, case_type)


async def remember_template(tx: Transaction, template: TemplateSaved) -> None:
    values = dict(name=template.name, updated_at=template.updated_at)
    await upsert_newest(
        tx.session, templates, values, key="name", newer_by="updated_at", same_counts=True
    )


async def case_states(
    session: AsyncConnection, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return await _states(session, cases, ids)


async def activity_states(
    session: AsyncConnection, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return await _states(session, activities, ids)


async def _states(
    session: AsyncConnection, table: sa.Table, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``state`` of each of ``ids`` the read model ``table`` has, by id."""
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(table.c.id, table.c.state).where(any_of(table.c.id, wanted))
    )
    return {r.id: r.state for r in rows}


async def activity_counts(
    session: AsyncConnection, case_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, dict[str, int]]]:
    """Per case: ``{type: {"scheduled": n, "completed": n, "cancelled": n, "total": n}}``,
    for conditions such as ``activities.follow_up_call.completed gt 0``."""
    wanted = list({i for i in case_ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(activities.c.case_id, activities.c.type, activities.c.status, sa.func.count())
        .where(activities.c.case_id.in_(wanted))
        .group_by(activities.c.case_id, activities.c.type, activities.c.status)
    )
    counts: dict[uuid.UUID, dict[str, dict[str, int]]] = {}
    for case_id, kind, status, n in rows:
        per_type = counts.setdefault(case_id, {}).setdefault(
            kind, {"scheduled": 0, "completed": 0, "cancelled": 0, "total": 0}
        )
        per_type[status] = n
        per_type["total"] += n
    return counts


async def known_template_names(session: AsyncConnection) -> set[str]:
    return set((await session.execute(sa.select(templates.c.name))).scalars())


async def known_case_types(session: AsyncConnection) -> dict[str, dict[str, Any]]:
    rows = await session.execute(sa.select(case_types))
    return {r.name: {"instance": r.instance, "active": r.active, **r.definition} for r in rows}
