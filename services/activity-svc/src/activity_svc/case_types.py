"""The read model of case-type definitions (from ``casetype.events``)."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlalchemy.dialects.postgresql import insert

from activity_svc.tables import case_type_versions
from casestream.contracts.case import CaseTypeDefinition, CaseTypeVersion
from casestream.envelope import Envelope

# What becomes of a case's remaining scheduled activities when it closes.
ON_CLOSE_DEFAULT = "keep"
OnClose = Literal["cancel", "keep"]


class DefinitionAsPublished(CaseTypeDefinition):
    """A definition with the keys the shared contract does not name yet (``on_close``) kept,
    so that the stored definition is the one case-svc published."""

    model_config = ConfigDict(extra="allow")


class CaseTypeVersionAsPublished(CaseTypeVersion):
    definition: DefinitionAsPublished


CaseTypeVersionEnvelope = Envelope[CaseTypeVersionAsPublished]


class DefinitionNotYetKnown(LookupError):
    """The case type version has not arrived from casetype.events yet; a retry will find it."""


async def store_version(session: Any, version: CaseTypeVersion) -> None:
    """Keep a published version. Versions never change, so a repeat changes nothing."""
    await session.execute(
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


async def definition_of(session: Any, name: str, version: int | None = None) -> CaseTypeDefinition:
    """The definition of ``name`` at ``version`` (the latest when None)."""
    query = sa.select(case_type_versions.c.definition).where(case_type_versions.c.name == name)
    if version is None:
        query = query.order_by(case_type_versions.c.version.desc()).limit(1)
    else:
        query = query.where(case_type_versions.c.version == version)
    found = (await session.execute(query)).scalar()
    if found is None:
        raise DefinitionNotYetKnown(f"case type {name!r} version {version} not received yet")
    return CaseTypeDefinition.model_validate(found)


async def on_close_of(session: Any, name: str, version: int) -> OnClose:
    """The definition's ``on_close`` ("cancel" or "keep"; "keep" when absent or unknown)."""
    found = (
        await session.execute(
            sa.select(case_type_versions.c.definition["on_close"].astext).where(
                case_type_versions.c.name == name, case_type_versions.c.version == version
            )
        )
    ).first()
    if found is None:
        raise DefinitionNotYetKnown(f"case type {name!r} version {version} not received yet")
    return "cancel" if found[0] == "cancel" else ON_CLOSE_DEFAULT
