"""Staff HTTP: instances, statuses, case types. Changing them needs ``configure``
(``Configurer``, checked before the body is); any staff token reads them."""

import sqlalchemy as sa
from fastapi import APIRouter, Response

from case_svc.configuration import add_instance, add_status, case_type_named, put_case_type
from case_svc.schemas import (
    CaseStatusIn,
    CaseType,
    CaseTypeIn,
    Instance,
    InstanceIn,
    InstancePatch,
)
from case_svc.tables import case_statuses, case_types, instances
from casestream.commands import not_found
from casestream.contracts.inputs import Line
from casestream.http.auth import Configurer, Staff
from casestream.http.state import Service

router = APIRouter(tags=["configuration"])


@router.post("/instances", status_code=201, response_model=Instance)
async def create_instance(body: InstanceIn, staff: Configurer, runtime: Service):
    async with runtime.database.transaction() as tx:
        return (await add_instance(tx, body))._asdict()


@router.get("/instances", response_model=list[Instance])
async def list_instances(staff: Staff, runtime: Service):
    async with runtime.database.session() as s:
        rows = await s.execute(sa.select(instances).order_by(instances.c.weight, instances.c.name))
        return [r._asdict() for r in rows]


@router.get("/instances/{name}", response_model=Instance)
async def get_instance(name: Line, staff: Staff, runtime: Service):
    async with runtime.database.session() as s:
        row = (await s.execute(sa.select(instances).where(instances.c.name == name))).first()
    if row is None:
        raise not_found(f"instance {name!r}")
    return row._asdict()


@router.patch("/instances/{name}", response_model=Instance)
async def edit_instance(name: Line, body: InstancePatch, staff: Configurer, runtime: Service):
    """A disabled instance's cases drop out of staff lists and counts; nothing is lost."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    async with runtime.database.transaction() as tx:
        query = instances.update().where(instances.c.name == name).returning(instances)
        row = (
            await tx.session.execute(
                query.values(**values)
                if values
                else sa.select(instances).where(instances.c.name == name)
            )
        ).first()
    if row is None:
        raise not_found(f"instance {name!r}")
    return row._asdict()


@router.post("/case-statuses", status_code=201, response_model=CaseStatusIn)
async def create_status(body: CaseStatusIn, staff: Configurer, runtime: Service):
    async with runtime.database.transaction() as tx:
        return (await add_status(tx, body))._asdict()


@router.get("/case-statuses", response_model=list[CaseStatusIn])
async def list_statuses(staff: Staff, runtime: Service):
    async with runtime.database.session() as s:
        rows = await s.execute(sa.select(case_statuses).order_by(case_statuses.c.weight))
        return [r._asdict() for r in rows]


@router.put("/case-types/{name}", response_model=CaseType)
async def save_case_type(
    name: Line, body: CaseTypeIn, staff: Configurer, runtime: Service, response: Response
):
    async with runtime.database.transaction() as tx:
        row, created = await put_case_type(tx, runtime.settings, name, body)
    response.status_code = 201 if created else 200
    return row._asdict()


@router.get("/case-types", response_model=list[CaseType])
async def list_case_types(staff: Staff, runtime: Service):
    async with runtime.database.session() as s:
        rows = await s.execute(sa.select(case_types).order_by(case_types.c.name))
        return [r._asdict() for r in rows]


@router.get("/case-types/{name}", response_model=CaseType)
async def get_case_type(name: Line, staff: Staff, runtime: Service):
    async with runtime.database.transaction() as tx:
        return (await case_type_named(tx, name))._asdict()
