"""What activity-svc keeps of each case for its timelines, from every case.events message."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from activity_svc.timeline_tables import timeline_cases
from casestream import visibility
from casestream.contracts.case import CaseState


async def keep_case(session: Any, case: CaseState) -> Any | None:
    """Store the case's facts and answer them as stored. None when what is stored is as new
    or newer (a repeat or an old event announced again): the caller then does nothing more."""
    values = {
        "case_id": case.id,
        "instance": case.instance,
        "case_type": case.case_type,
        "case_type_version": case.case_type_version,
        "start_date": case.start_date,
        "active": case.active,
        "assignee": case.assignee,
        "created_by": case.created_by,
        "version": case.version,
    }
    return (await session.execute(_KEEP, values)).first()


def _keep() -> Any:
    statement = insert(timeline_cases)
    return statement.on_conflict_do_update(
        index_elements=[timeline_cases.c.case_id],
        set_={c.name: statement.excluded[c.name] for c in timeline_cases.c if c.name != "case_id"},
        where=timeline_cases.c.version < statement.excluded.version,
    ).returning(timeline_cases)


_KEEP = _keep()  # built once: every case event runs it


async def case_of(session: Any, case_id: uuid.UUID, *, lock: bool = False) -> Any:
    """The stored facts of a case, or None. ``lock`` holds it until the transaction ends, so
    that an application and the case's closing do not cross."""
    query = sa.select(timeline_cases).where(timeline_cases.c.case_id == case_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


def may_apply(staff: Any, case: Any) -> bool:
    """Who may apply a set to a case: whoever may see it."""
    return visibility.may_see_case(staff, case)
