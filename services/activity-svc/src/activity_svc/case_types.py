"""The read model of case-type definitions (from ``casetype.events``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from activity_svc.tables import case_type_versions
from casestream.contracts.case import CaseTypeDefinition, CaseTypeVersion
from casestream.messaging.holding import NotYet, awaited_case_type
from casestream.persistence.database import Transaction


class DefinitionNotYetKnown(NotYet):
    """The case type version has not arrived from casetype.events yet: a message that needs
    it waits for it (held); an HTTP request gets a 503."""

    def __init__(self, name: str, version: int | None) -> None:
        super().__init__(awaited_case_type(name, version or 0))
        self.args = (f"case type {name!r} version {version} not received yet",)


async def store_version(tx: Transaction, version: CaseTypeVersion) -> None:
    """Keep a published version, and hand on what waited for it. Versions never change, so a
    repeat changes nothing."""
    await tx.session.execute(
        insert(case_type_versions)
        .values(
            name=version.name,
            version=version.version,
            title=version.title,
            instance=version.instance,
            definition=version.definition.model_dump(mode="json"),
        )
        .on_conflict_do_nothing()
    )
    await tx.release([awaited_case_type(version.name, version.version)])


async def definition_of(session: Any, name: str, version: int | None = None) -> CaseTypeDefinition:
    """The definition of ``name`` at ``version`` (the latest when None)."""
    query = sa.select(case_type_versions.c.definition).where(case_type_versions.c.name == name)
    if version is None:
        query = query.order_by(case_type_versions.c.version.desc()).limit(1)
    else:
        query = query.where(case_type_versions.c.version == version)
    found = (await session.execute(query)).scalar()
    if found is None:
        raise DefinitionNotYetKnown(name, version)
    return CaseTypeDefinition.model_validate(found)


async def on_close_of(session: Any, name: str, version: int) -> str:
    """The definition's ``on_close`` ("cancel" or "keep"; "keep" when absent)."""
    found = (
        await session.execute(
            sa.select(case_type_versions.c.definition["on_close"].astext).where(
                case_type_versions.c.name == name, case_type_versions.c.version == version
            )
        )
    ).first()
    if found is None:
        raise DefinitionNotYetKnown(name, version)
    return "cancel" if found[0] == "cancel" else "keep"
