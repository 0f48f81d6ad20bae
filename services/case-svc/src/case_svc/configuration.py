"""Configuration: case instances, statuses and versioned case types."""

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert

from case_svc.config import Settings
from case_svc.custom_fields import check_definition_fields
from case_svc.schemas import CaseStatusIn, CaseTypeIn, InstanceIn
from case_svc.status_rules import ordered_statuses
from case_svc.tables import case_statuses, case_type_versions, case_types, instances
from casestream import topics
from casestream.commands import conflict, invalid, not_found
from casestream.contracts.case import (
    CASETYPE_VERSION_PUBLISHED,
    CaseTypeDefinition,
    CaseTypeVersion,
)
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction


async def add_instance(tx: Transaction, instance: InstanceIn) -> Any:
    return await _add_new(tx, instances, instance, f"instance {instance.name!r}")


async def add_status(tx: Transaction, status: CaseStatusIn) -> Any:
    tx.forget("case_statuses")
    return await _add_new(tx, case_statuses, status, f"case status {status.name!r}")


async def _add_new(tx: Transaction, table: sa.Table, body: BaseModel, what: str) -> Any:
    """The new row, or 409 if ``table`` has one by that name already."""
    row = (
        await tx.session.execute(
            insert(table).values(**body.model_dump()).on_conflict_do_nothing().returning(table)
        )
    ).first()
    if row is None:
        raise conflict(f"{what} already exists")
    return row


async def put_case_type(
    tx: Transaction, settings: Settings, name: str, case_type: CaseTypeIn
) -> tuple[Any, bool]:
    """Create or edit a case type. A changed definition is published as a new version (an
    unchanged one is announced again); open cases keep the version they were opened with.
    Returns (row, created)."""
    tx.forget(("case_type", name))
    await _check_references(tx, case_type)
    current = (
        await tx.session.execute(
            sa.select(case_types).where(case_types.c.name == name).with_for_update()
        )
    ).first()
    definition = case_type.definition.model_dump(mode="json")
    values = case_type.model_dump(mode="json", exclude={"definition"})
    if current is None:
        version = 1
        row = (
            await tx.session.execute(
                case_types.insert()
                .values(name=name, version=1, definition=definition, **values)
                .returning(case_types)
            )
        ).one()
    else:
        changed = current.definition != definition
        version = current.version + 1 if changed else current.version
        row = (
            await tx.session.execute(
                case_types.update()
                .where(case_types.c.name == name)
                .values(version=version, definition=definition, updated_at=sa.func.now(), **values)
                .returning(case_types)
            )
        ).one()
    # Said again even when nothing changed: a service that joined later, or a broker that lost
    # its history (the local in-memory one), learns the case type from a repeated PUT; every
    # consumer keeps the newest version, so the repeat changes nothing else.
    await tx.session.execute(
        insert(case_type_versions)
        .values(name=name, version=version, definition=definition)
        .on_conflict_do_nothing()
    )
    await tx.publish(
        settings.topic(topics.CASETYPE_EVENTS),
        new_envelope(
            type=CASETYPE_VERSION_PUBLISHED,
            source="case-svc",
            subject=name,
            data=CaseTypeVersion(
                name=name, version=version, **values, definition=case_type.definition
            ),
        ),
    )
    return row, current is None


async def _check_references(tx: Transaction, case_type: CaseTypeIn) -> None:
    if not await _exists(tx, instances.c.name, case_type.instance):
        raise invalid(("body", "instance"), f"unknown instance {case_type.instance!r}")
    known = set((await tx.session.execute(sa.select(case_statuses.c.name))).scalars())
    for i, status in enumerate(case_type.definition.statuses):
        if status not in known:
            raise invalid(
                ("body", "definition", "statuses", str(i)), f"unknown case status {status!r}"
            )
    check_definition_fields(case_type.definition.custom_fields)
    roles = case_type.definition.roles
    if sum(r.manager for r in roles) > 1:
        raise invalid(("body", "definition", "roles"), "only one role can be the case manager")


async def _exists(tx: Transaction, column: sa.Column[Any], value: Any) -> bool:
    return (await tx.session.execute(sa.select(sa.exists().where(column == value)))).scalar_one()


async def case_type_named(tx: Transaction, name: str) -> Any:
    """The case type (read once per transaction: a consumed batch shares one)."""

    async def read() -> Any:
        query = sa.select(case_types).where(case_types.c.name == name)
        return (await tx.session.execute(query)).first()

    row = await tx.read_once(("case_type", name), read)
    if row is None:
        raise not_found(f"case type {name!r}")
    return row


async def parsed_definition(tx: Transaction, case_type: Any) -> CaseTypeDefinition:
    """A case type row's definition as the model (parsed once per transaction and version)."""

    async def parse() -> CaseTypeDefinition:
        return CaseTypeDefinition.model_validate(case_type.definition)

    return await tx.read_once(("definition", case_type.name, case_type.version), parse)


async def statuses_by_name(tx: Transaction) -> dict[str, Any]:
    """Every case status (read once per transaction)."""

    async def read() -> dict[str, Any]:
        return {r.name: r for r in (await tx.session.execute(sa.select(case_statuses))).all()}

    return await tx.read_once("case_statuses", read)


async def definition_of(tx: Transaction, case_type: str, version: int) -> CaseTypeDefinition:
    """The definition a case works under: the version it was opened (or transferred) with
    (versions never change: read and parsed once per transaction)."""

    async def read() -> CaseTypeDefinition:
        row = (
            await tx.session.execute(
                sa.select(case_type_versions.c.definition).where(
                    case_type_versions.c.name == case_type, case_type_versions.c.version == version
                )
            )
        ).first()
        if row is None:
            raise not_found(f"case type {case_type!r} version {version}")
        return CaseTypeDefinition.model_validate(row.definition)

    return await tx.read_once(("definition", case_type, version), read)


async def statuses_of(
    tx: Transaction, definition: CaseTypeDefinition, grouping: str | None = None
) -> list[Any]:
    """The statuses a case type allows (all statuses if it names none), in order, optionally
    only those of one grouping (``opened`` or ``closed``)."""
    return ordered_statuses(definition.statuses, await statuses_by_name(tx), grouping)


async def statuses_for_case(tx: Transaction, case: Any, grouping: str | None = None) -> list[Any]:
    """The statuses a case may have under the definition version it works with."""
    definition = await definition_of(tx, case.case_type, case.case_type_version)
    return await statuses_of(tx, definition, grouping)
