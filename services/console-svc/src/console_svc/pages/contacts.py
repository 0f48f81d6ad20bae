"""A contact's record: who they are, all their cases (open and closed) and the history of
those cases' activities, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.services_api import ACTIVITY, CASE, Refused
from console_svc.web import CurrentPage

router = APIRouter()

CASES_PER_PAGE = 50
ACTIVITIES_PER_CASE = 100


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
async def contact_record(page: CurrentPage, request: Request, contact_id: str) -> Response:
    cursor = request.query_params.get("cursor")
    found = await page.gather(
        instances=page.instances(),
        contact=page.api.get(CASE, f"/contacts/{contact_id}"),
        cases=page.api.get(
            CASE,
            "/cases",
            client_id=contact_id,
            active="all",
            limit=CASES_PER_PAGE,
            cursor=cursor,
        ),
    )
    for answer in (found["contact"], found["cases"]):
        if isinstance(answer, Refused):
            raise answer
    cases = found["cases"]["items"]
    history, unreadable = await _activities_of(page, cases)
    return await page.render(
        "contact.html",
        instances=found["instances"],
        contact=found["contact"],
        open_cases=[c for c in cases if c["active"]],
        closed_cases=[c for c in cases if not c["active"]],
        next_cursor=found["cases"].get("next_cursor"),
        history=history,
        unreadable=unreadable,
        query={k: v for k, v in request.query_params.items() if k != "cursor"},
    )


async def _activities_of(
    page: Any, cases: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The activities of these cases, newest first, each with its case; and the cases whose
    activities activity-svc would not give (not known there yet, or refused).

    activity-svc has no filter by contact (``GET /activities`` filters by assignee, status,
    type or case), so the contact's history is gathered case by case, in parallel."""
    by_case = {c["id"]: c for c in cases}
    answers = await page.gather(
        **{
            case_id: page.api.get(
                ACTIVITY, f"/cases/{case_id}/activities", limit=ACTIVITIES_PER_CASE
            )
            for case_id in by_case
        }
    )
    history: list[dict[str, Any]] = []
    unreadable = []
    for case_id, answer in answers.items():
        if isinstance(answer, Refused):
            unreadable.append(by_case[case_id])
            continue
        history.extend({**a, "case": by_case[case_id]} for a in answer["items"])
    history.sort(key=_moment, reverse=True)
    return history, unreadable


def _moment(activity: dict[str, Any]) -> datetime:
    """When it happened, or falls due."""
    when = activity.get("occurred_at") or activity.get("due_at") or activity["created_at"]
    return datetime.fromisoformat(when)
