"""The case types read model: the newest version of each, as case-svc announced it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.contracts.case import CaseTypeDefinition, CaseTypeVersion
from casestream.persistence.upserts import upsert_newest
from intake_svc.tables import case_types


async def remember_case_type(session: AsyncConnection, case_type: CaseTypeVersion) -> None:
    values = dict(
        name=case_type.name,
        instance=case_type.instance,
        version=case_type.version,
        active=case_type.active,
        definition=case_type.definition.model_dump(mode="json"),
    )
    # Same version too: switching a type on or off does not make a new version.
    await upsert_newest(
        session, case_types, values, key="name", newer_by="version", same_counts=True
    )


async def case_type_definition(session: AsyncConnection, name: str) -> CaseTypeDefinition | None:
    definition = await session.scalar(
        sa.select(case_types.c.definition).where(case_types.c.name == name)
    )
    return None if definition is None else CaseTypeDefinition.model_validate(definition)
