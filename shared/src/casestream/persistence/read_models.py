"""Read models that several services keep of what case-svc announces: the same table in each
service's own database (made on that service's ``MetaData``) and the same newest-wins store.

- ``cases``: each case's newest ``CaseState`` (automation-svc judges rules on it, notify-svc
  renders emails from it).
- ``case_types``: each case type's newest version (intake-svc checks forms against it,
  automation-svc checks rules).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.contracts.case import CaseState, CaseTypeVersion
from casestream.persistence.upserts import upsert_newest


def cases_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "cases",
        metadata,
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("state", JSONB, nullable=False),  # CaseState
        sa.Column("version", sa.Integer, nullable=False),
    )


def case_columns(table: sa.Table) -> sa.Subquery:
    """``table`` (a ``cases_table``) with the columns ``casestream.visibility`` filters on,
    read from each case's state: ``id``, ``instance``, ``assignee``, ``created_by``."""
    state = table.c.state
    return sa.select(
        table.c.id,
        state["instance"].astext.label("instance"),
        state["assignee"].astext.label("assignee"),
        state["created_by"].astext.label("created_by"),
    ).subquery(f"{table.name}_visibility")


async def keep_cases(
    session: AsyncConnection, table: sa.Table, states: Iterable[CaseState]
) -> None:
    """The states in one upsert; an older version arriving late changes nothing."""
    rows = [dict(id=c.id, state=c.model_dump(mode="json"), version=c.version) for c in states]
    await upsert_newest(session, table, rows, key="id", newer_by="version")


def case_types_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "case_types",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("definition", JSONB, nullable=False),  # CaseTypeDefinition
    )


async def keep_case_type(
    session: AsyncConnection, table: sa.Table, case_type: CaseTypeVersion
) -> None:
    values = dict(
        name=case_type.name,
        instance=case_type.instance,
        version=case_type.version,
        active=case_type.active,
        definition=case_type.definition.model_dump(mode="json"),
    )
    # Same version too: switching a type on or off does not make a new version.
    await upsert_newest(session, table, values, key="name", newer_by="version", same_counts=True)
