"""Staff HTTP: everything one does to a case after opening it. Each answers the updated case,
or 409 with the reason when the action is not allowed now. Send ``If-Match: <version>`` (the
version you saw) to be refused with 409 instead of acting on a case that changed meanwhile."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from case_svc import editing, lifecycle, relations
from case_svc.schemas import Case, CasePatch
from casestream.commands import Caller
from casestream.contracts.inputs import Line, Text
from casestream.http.auth import Staff, StaffUser, requires
from casestream.http.if_match import expected_version
from casestream.http.state import Service
from casestream.service import Runtime

router = APIRouter(tags=["case actions"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignIn(Body):
    user: Line | None = Field(description="the user id, or null for the pool")


class StatusIn(Body):
    status: Line
    note: Text | None = None


class TransferIn(Body):
    case_type: Line


class CloseIn(Body):
    status: Line | None = None
    outcome: Line | None = Field(default=None, max_length=200)
    lost_reason: Line | None = Field(default=None, max_length=500)


class ReopenIn(Body):
    status: Line | None = None


class RoleIn(Body):
    role: Line
    contact_id: uuid.UUID
    start_date: date | None = None


class EndRoleIn(Body):
    end_date: date | None = None


class TagsIn(Body):
    add: list[Line] = Field(default_factory=list)
    remove: list[Line] = Field(default_factory=list)


class LinkIn(Body):
    case_id: uuid.UUID


class MergeIn(Body):
    other_case_id: uuid.UUID


IfMatch = Annotated[Line | None, Header(description="the case version you saw")]


class CaseAction:
    """Runs one case action in its own transaction, as the calling staff user, refused if
    the case is no longer at the version ``If-Match`` names."""

    def __init__(self, runtime: Runtime, staff: StaffUser, if_match: str | None) -> None:
        self.runtime, self.staff, self.if_match = runtime, staff, if_match

    async def __call__(self, action: Callable[..., Awaitable[Any]], *args, **kwargs) -> Any:
        async with self.runtime.database.transaction() as tx:
            return await action(
                tx,
                self.runtime.settings,
                Caller(actor=self.staff.user, staff=self.staff),
                *args,
                version=expected_version(self.if_match, "a case"),
                **kwargs,
            )


def case_action(staff: Staff, runtime: Service, if_match: IfMatch = None) -> CaseAction:
    return CaseAction(runtime, staff, if_match)


Act = Annotated[CaseAction, Depends(case_action)]


@router.patch("/cases/{case_id}", response_model=Case)
async def edit_case(case_id: uuid.UUID, body: CasePatch, act: Act):
    return await act(editing.edit, case_id, body)


@router.post("/cases/{case_id}/take", response_model=Case)
async def take_case(case_id: uuid.UUID, act: Act):
    return await act(lifecycle.take, case_id)


@router.post("/cases/{case_id}/requeue", response_model=Case)
async def requeue_case(case_id: uuid.UUID, act: Act):
    return await act(lifecycle.requeue, case_id)


@router.post("/cases/{case_id}/assign", response_model=Case)
async def assign_case(case_id: uuid.UUID, body: AssignIn, act: Act):
    return await act(lifecycle.assign, case_id, body.user)


@router.post("/cases/{case_id}/status", response_model=Case)
async def change_case_status(case_id: uuid.UUID, body: StatusIn, act: Act):
    return await act(lifecycle.change_status, case_id, body.status, note=body.note)


@router.post("/cases/{case_id}/transfer", response_model=Case)
async def transfer_case(case_id: uuid.UUID, body: TransferIn, act: Act):
    return await act(lifecycle.transfer, case_id, body.case_type)


@router.post("/cases/{case_id}/close", response_model=Case)
async def close_case(case_id: uuid.UUID, body: CloseIn, act: Act):
    return await act(lifecycle.close, case_id, body.status, body.outcome, body.lost_reason)


@router.post("/cases/{case_id}/reopen", response_model=Case)
async def reopen_case(case_id: uuid.UUID, act: Act, body: ReopenIn | None = None):
    return await act(lifecycle.reopen, case_id, body.status if body else None)


@router.post("/cases/{case_id}/roles", response_model=Case)
async def add_case_role(case_id: uuid.UUID, body: RoleIn, act: Act):
    return await act(relations.add_role, case_id, body.role, body.contact_id, body.start_date)


@router.post("/cases/{case_id}/roles/{role_id}/end", response_model=Case)
async def end_case_role(
    case_id: uuid.UUID, role_id: uuid.UUID, act: Act, body: EndRoleIn | None = None
):
    return await act(relations.end_role, case_id, role_id, body.end_date if body else None)


@router.post("/cases/{case_id}/tags", response_model=Case)
async def tag_case(case_id: uuid.UUID, body: TagsIn, act: Act):
    return await act(relations.tag, case_id, body.add, body.remove)


@router.post("/cases/{case_id}/links", response_model=Case)
async def link_case(case_id: uuid.UUID, body: LinkIn, act: Act):
    return await act(relations.link, case_id, body.case_id)


@router.post(
    "/cases/{case_id}/merge",
    response_model=Case,
    dependencies=[Depends(requires("delete_cases"))],  # 403 before the body is read
)
async def merge_case(case_id: uuid.UUID, body: MergeIn, act: Act):
    return await act(relations.merge, case_id, body.other_case_id)
