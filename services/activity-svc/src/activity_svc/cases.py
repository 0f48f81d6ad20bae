"""What activity-svc keeps of each case (from ``case.events``, migration 0006): who may see
its activities (case-svc's rule), whether it is closed or merged, and what its timelines
need. One row per case, newest state wins; ``timeline_version`` is the last version of the
case whose timeline work (schedule on opening, settle on closing) is done, so a message
handed on again after waiting for its case type does that work once."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from activity_svc.tables import metadata
from casestream.contracts.case import CaseState
from casestream.persistence.upserts import any_of, upsert_newest

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("case_type", sa.Text, nullable=False),
    # None only for a case carried over from before 0006 without them (its next event sets them).
    sa.Column("case_type_version", sa.Integer),
    sa.Column("start_date", sa.Date),
    sa.Column("status", sa.Text),
    sa.Column("status_class", sa.Text),
    sa.Column("assignee", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("client_ids", JSONB, nullable=False, server_default="[]"),
    sa.Column("merged_into", UUID(as_uuid=True)),
    # The case's own version: an older event arriving late does not undo a newer one.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("timeline_version", sa.Integer, nullable=False, server_default="0"),
)
# For "own" tokens: the cases assigned to or opened by the caller.
sa.Index("cases_assignee", cases.c.assignee)
sa.Index("cases_created_by", cases.c.created_by)

_PROGRESS = sa.select(cases.c.id, cases.c.timeline_version)


async def keep_cases(session: Any, states: list[CaseState]) -> dict[uuid.UUID, int]:
    """The newest state of each case, of these and what is kept already (one statement),
    and how far each case's timeline work had got (0 for a case new here)."""
    ids = sorted({case.id for case in states}, key=str)
    done = {
        row.id: row.timeline_version
        for row in await session.execute(_PROGRESS.where(any_of(cases.c.id, ids)))
    }
    rows = [
        {
            "id": case.id,
            "instance": case.instance,
            "case_type": case.case_type,
            "case_type_version": case.case_type_version,
            "start_date": case.start_date,
            "status": case.status,
            "status_class": case.status_class,
            "assignee": case.assignee,
            "created_by": case.created_by,
            "active": case.active,
            "client_ids": [str(c.id) for c in case.clients],
            "merged_into": case.merged_into,
            "version": case.version,
        }
        for case in states
    ]
    await upsert_newest(session, cases, rows, key="id", newer_by="version")
    return {case_id: done.get(case_id, 0) for case_id in ids}


async def timeline_work_done(session: Any, done: dict[uuid.UUID, int]) -> None:
    """Record how far each case's timeline work has got (never backwards)."""
    if not done:
        return
    values = sa.values(
        sa.column("id", UUID(as_uuid=True)), sa.column("v", sa.Integer), name="done"
    ).data(sorted(done.items(), key=lambda item: str(item[0])))
    await session.execute(
        cases.update()
        .where(cases.c.id == values.c.id, cases.c.timeline_version < values.c.v)
        .values(timeline_version=values.c.v)
    )


async def case_named(session: Any, case_id: uuid.UUID | None, *, lock: bool = False) -> Any:
    """The stored facts of a case, or None. ``lock`` holds it until the transaction ends, so
    that applying a set and the case's closing do not cross."""
    if case_id is None:
        return None
    query = sa.select(cases).where(cases.c.id == case_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()
