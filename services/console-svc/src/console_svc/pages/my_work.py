"""My work: the activities assigned to me, overdue ones first, then those coming up by due
time, each with a link to its case. ``?overdue=true`` (the dashboard's link) shows only the
overdue ones. Paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.services_api import ACTIVITY, CASE, Refused
from console_svc.web import CurrentPage, now

router = APIRouter()

PAGE_SIZE = 25


@router.get("/my-work", response_class=HTMLResponse)
async def my_work(page: CurrentPage, request: Request, overdue: bool = False) -> Response:
    cursor = request.query_params.get("cursor")
    if overdue:
        found = await page.gather(instances=page.instances(), overdue=_overdue(page, cursor))
        coming = None
    else:
        # The overdue ones head the first page (all of them: on their own page).
        found = await page.gather(
            instances=page.instances(),
            overdue=_overdue(page, None) if cursor is None else _nothing(),
            coming=_coming_up(page, cursor),
        )
        coming = found["coming"]
    for answer in (found["overdue"], coming):
        if isinstance(answer, Refused):
            raise answer
    activities = found["overdue"]["items"] + (coming["items"] if coming else [])
    return await page.render(
        "my_work.html",
        instances=found["instances"],
        only_overdue=overdue,
        show_overdue=overdue or cursor is None,
        overdue=found["overdue"],
        coming=coming,
        cases=await _cases_of(page, activities),
        query={k: v for k, v in request.query_params.items() if k != "cursor"},
    )


async def _overdue(page: Any, cursor: str | None) -> dict[str, Any]:
    return await page.api.get(
        ACTIVITY,
        "/activities",
        assignee="me",
        status="scheduled",
        overdue="true",
        limit=PAGE_SIZE,
        cursor=cursor,
    )


async def _nothing() -> dict[str, Any]:
    return {"items": [], "next_cursor": None}


async def _coming_up(page: Any, cursor: str | None) -> dict[str, Any]:
    """My scheduled activities not yet due, by due time."""
    return await page.api.get(
        ACTIVITY,
        "/activities",
        assignee="me",
        status="scheduled",
        due_after=now().isoformat(),
        limit=PAGE_SIZE,
        cursor=cursor,
    )


async def _cases_of(page: Any, activities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cases of these activities by id, for their subjects, in one call; one the user may
    not see is left out (its activity still links to it)."""
    ids = sorted({a["case_id"] for a in activities if a.get("case_id")})
    if not ids:
        return {}
    found = await page.api.get(CASE, "/cases", id=ids, active="all", limit=len(ids))
    return {case["id"]: case for case in found["items"]}
