"""The case types read model: the newest version of each, as case-svc announced it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.contracts.case import CaseTypeDefinition, CaseTypeVersion
from casestream.persistence.read_models import keep_case_type
from intake_svc.tables import case_types


async def remember_case_type(session: AsyncConnection, case_type: CaseTypeVersion) -> None:
    await keep_case_type(session, case_types, case_type)


async def case_type_definition(session: AsyncConnection, name: str) -> CaseTypeDefinition | None:
    definition = await session.scalar(
        sa.select(case_types.c.definition).where(case_types.c.name == name)
    )
    return None if definition is None else CaseTypeDefinition.model_validate(definition)
