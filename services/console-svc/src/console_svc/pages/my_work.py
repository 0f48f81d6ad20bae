"""My work: the activities assigned to me, overdue ones first, then those coming up by due
time, each with a link to its case. ``?overdue=true`` (the dashboard's link) shows only the
overdue ones. Paged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.services_api import ACTIVITY, CASE, Refused
from console_svc.web import CurrentPage, now

router = APIRouter()

PAGE_SIZE = 25
# Pages of overdue ones skipped at most to reach those coming up (then the page says so).
MAX_SKIPPED_PAGES = 20


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
    """My scheduled activities not yet due, by due time. activity-svc lists the overdue ones
    first in that order (it has no "due after"): pages holding only those are skipped."""
    moment = now()
    for _ in range(MAX_SKIPPED_PAGES):
        found = await page.api.get(
            ACTIVITY,
            "/activities",
            assignee="me",
            status="scheduled",
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        items = [a for a in found["items"] if not _due_by(a, moment)]
        cursor = found.get("next_cursor")
        if items or not cursor:
            return {"items": items, "next_cursor": cursor}
    return {"items": [], "next_cursor": cursor}


def _due_by(activity: dict[str, Any], moment: datetime) -> bool:
    due = activity.get("due_at")
    return bool(due) and datetime.fromisoformat(due) <= moment


async def _cases_of(page: Any, activities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cases of these activities by id, for their subjects; one not readable is left
    out (its activity still links to it)."""
    ids = {a["case_id"] for a in activities if a.get("case_id")}
    found = await page.gather(**{i: page.api.get(CASE, f"/cases/{i}") for i in ids})
    return {i: case for i, case in found.items() if not isinstance(case, Refused)}
