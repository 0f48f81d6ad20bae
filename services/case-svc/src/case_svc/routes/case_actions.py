"""Staff HTTP: everything one does to a case after opening it. Each answers the updated case,
or 409 with the reason when the action is not allowed now. Send ``If-Match: <version>`` (the
version you saw) to be refused with 409 instead of acting on a case that changed meanwhile."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from case_svc import editing, lifecycle, relations
from case_svc.case_changes import Caller
from case_svc.errors import invalid
from case_svc.schemas import Case, CasePatch
from casestream.http.auth import Staff

router = APIRouter(tags=["case actions"])


def expected_version(
    if_match: Annotated[str | None, Header(description="the case version you saw")] = None,
) -> int | None:
    if if_match is None:
        return None
    try:
        return int(if_match.removeprefix("W/").strip('"'))
    except ValueError:
        raise invalid(("header", "if-match"), 'a case version number, e.g. "3"') from None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignIn(Body):
    user: str | None = Field(description="the user id, or null for the pool")


class StatusIn(Body):
    status: str
    note: str | None = None


class TransferIn(Body):
    case_type: str


class CloseIn(Body):
    status: str | None = None
    outcome: str | None = Field(default=None, max_length=200)
    lost_reason: str | None = Field(default=None, max_length=500)


class ReopenIn(Body):
    status: str | None = None


class RoleIn(Body):
    role: str
    contact_id: uuid.UUID
    start_date: date | None = None


class EndRoleIn(Body):
    end_date: date | None = None


class TagsIn(Body):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class LinkIn(Body):
    case_id: uuid.UUID


class MergeIn(Body):
    other_case_id: uuid.UUID


def _run(request: Request):
    runtime = request.app.state.runtime
    return runtime.database, runtime.settings


def _caller(staff) -> Caller:
    return Caller(actor=staff.user, staff=staff)


@router.patch("/cases/{case_id}", response_model=Case)
async def edit_case(
    case_id: uuid.UUID,
    body: CasePatch,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await editing.edit(
            tx, settings, _caller(staff), case_id, body, expected_version(if_match)
        )


@router.post("/cases/{case_id}/take", response_model=Case)
async def take_case(
    case_id: uuid.UUID,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.take(
            tx, settings, _caller(staff), case_id, expected_version(if_match)
        )


@router.post("/cases/{case_id}/requeue", response_model=Case)
async def requeue_case(
    case_id: uuid.UUID,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.requeue(
            tx, settings, _caller(staff), case_id, expected_version(if_match)
        )


@router.post("/cases/{case_id}/assign", response_model=Case)
async def assign_case(
    case_id: uuid.UUID,
    body: AssignIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.assign(
            tx, settings, _caller(staff), case_id, body.user, expected_version(if_match)
        )


@router.post("/cases/{case_id}/status", response_model=Case)
async def change_case_status(
    case_id: uuid.UUID,
    body: StatusIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.change_status(
            tx,
            settings,
            _caller(staff),
            case_id,
            body.status,
            expected_version(if_match),
            body.note,
        )


@router.post("/cases/{case_id}/transfer", response_model=Case)
async def transfer_case(
    case_id: uuid.UUID,
    body: TransferIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.transfer(
            tx, settings, _caller(staff), case_id, body.case_type, expected_version(if_match)
        )


@router.post("/cases/{case_id}/close", response_model=Case)
async def close_case(
    case_id: uuid.UUID,
    body: CloseIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.close(
            tx,
            settings,
            _caller(staff),
            case_id,
            body.status,
            body.outcome,
            body.lost_reason,
            expected_version(if_match),
        )


@router.post("/cases/{case_id}/reopen", response_model=Case)
async def reopen_case(
    case_id: uuid.UUID,
    staff: Staff,
    request: Request,
    body: ReopenIn | None = None,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await lifecycle.reopen(
            tx,
            settings,
            _caller(staff),
            case_id,
            body.status if body else None,
            expected_version(if_match),
        )


@router.post("/cases/{case_id}/roles", response_model=Case)
async def add_case_role(
    case_id: uuid.UUID,
    body: RoleIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await relations.add_role(
            tx,
            settings,
            _caller(staff),
            case_id,
            body.role,
            body.contact_id,
            body.start_date,
            expected_version(if_match),
        )


@router.post("/cases/{case_id}/roles/{role_id}/end", response_model=Case)
async def end_case_role(
    case_id: uuid.UUID,
    role_id: uuid.UUID,
    staff: Staff,
    request: Request,
    body: EndRoleIn | None = None,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await relations.end_role(
            tx,
            settings,
            _caller(staff),
            case_id,
            role_id,
            body.end_date if body else None,
            expected_version(if_match),
        )


@router.post("/cases/{case_id}/tags", response_model=Case)
async def tag_case(
    case_id: uuid.UUID,
    body: TagsIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await relations.tag(
            tx, settings, _caller(staff), case_id, body.add, body.remove, expected_version(if_match)
        )


@router.post("/cases/{case_id}/links", response_model=Case)
async def link_case(
    case_id: uuid.UUID,
    body: LinkIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await relations.link(
            tx, settings, _caller(staff), case_id, body.case_id, expected_version(if_match)
        )


@router.post("/cases/{case_id}/merge", response_model=Case)
async def merge_case(
    case_id: uuid.UUID,
    body: MergeIn,
    staff: Staff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
):
    db, settings = _run(request)
    async with db.transaction() as tx:
        return await relations.merge(
            tx, settings, _caller(staff), case_id, body.other_case_id, expected_version(if_match)
        )
