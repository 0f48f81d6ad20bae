"""The case page's actions on the case itself (case-svc): take, requeue, assign, change the
status, transfer, close and reopen. Each form sends the case version it showed; case-svc
refuses (409) if the case changed since, and the page then shows the case as it is now.
The activity and email actions live in ``case_activity_actions`` and ``case_email``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console_svc.pages import case_activity_actions, case_email
from console_svc.pages.case_forms import done, if_match, refused_page
from console_svc.services_api import CASE, Refused
from console_svc.web import PostedPage, form_text

router = APIRouter()
router.include_router(case_activity_actions.router)
router.include_router(case_email.router)


async def _act(
    page: PostedPage,
    request: Request,
    case_id: str,
    action: str,
    body: dict[str, Any] | None,
    notice: str,
) -> Response:
    """Ask case-svc to do ``action`` to the case at the version the form showed."""
    form = await request.form()
    try:
        await page.api.post(CASE, f"/cases/{case_id}/{action}", json=body, headers=if_match(form))
    except Refused as refusal:
        return await refused_page(page, case_id, action, form, refusal)
    return done(form, case_id, notice)


async def _field(request: Request, name: str) -> str | None:
    return form_text(await request.form(), name)


@router.post("/cases/{case_id}/take")
async def take(page: PostedPage, request: Request, case_id: str) -> Response:
    return await _act(page, request, case_id, "take", None, "You took the case.")


@router.post("/cases/{case_id}/requeue")
async def requeue(page: PostedPage, request: Request, case_id: str) -> Response:
    notice = "The case is back among the available cases."
    return await _act(page, request, case_id, "requeue", None, notice)


@router.post("/cases/{case_id}/assign")
async def assign(page: PostedPage, request: Request, case_id: str) -> Response:
    user = await _field(request, "user")
    notice = f"The case is assigned to {user}." if user else "The case is back in the pool."
    return await _act(page, request, case_id, "assign", {"user": user}, notice)


@router.post("/cases/{case_id}/status")
async def change_status(page: PostedPage, request: Request, case_id: str) -> Response:
    body = {"status": await _field(request, "status") or "", "note": await _field(request, "note")}
    notice = f"The status is now {body['status']}."
    return await _act(page, request, case_id, "status", body, notice)


@router.post("/cases/{case_id}/transfer")
async def transfer(page: PostedPage, request: Request, case_id: str) -> Response:
    case_type = await _field(request, "case_type") or ""
    notice = f"The case is now of the type {case_type}."
    return await _act(page, request, case_id, "transfer", {"case_type": case_type}, notice)


@router.post("/cases/{case_id}/close")
async def close(page: PostedPage, request: Request, case_id: str) -> Response:
    body = {
        "status": await _field(request, "status"),
        "outcome": await _field(request, "outcome"),
        "lost_reason": await _field(request, "lost_reason"),
    }
    return await _act(page, request, case_id, "close", body, "The case is closed.")


@router.post("/cases/{case_id}/reopen")
async def reopen(page: PostedPage, request: Request, case_id: str) -> Response:
    body = {"status": await _field(request, "status")}
    return await _act(page, request, case_id, "reopen", body, "The case is open again.")
