"""The case lists of an instance: My cases, Available (the pool, with Take), All, the
archive (closed cases) and search with the filters ``GET /cases`` has, paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.pages.instances import instance_named
from console_svc.services_api import CASE
from console_svc.web import CurrentPage

router = APIRouter()

VIEWS = {
    "mine": ("My cases", {"assignee": "me", "active": "true"}),
    "available": ("Available cases", {"assignee": "none", "active": "true"}),
    "all": ("All open cases", {"active": "true"}),
    "archive": ("Archive: closed cases", {"active": "false"}),
    "search": ("Search cases", {}),
}
# What the search form passes on to GET /cases as it is.
FILTERS = (
    "q",
    "case_type",
    "status",
    "assignee",
    "client_id",
    "tag",
    "opened_from",
    "opened_to",
    "active",
    "sort",
)
PAGE_SIZE = 25


@router.get("/i/{name}/cases", response_class=HTMLResponse)
async def case_list(page: CurrentPage, request: Request, name: str, view: str = "all") -> Response:
    title, fixed = VIEWS.get(view, VIEWS["all"])
    filters = {f: request.query_params.get(f) for f in FILTERS if request.query_params.get(f)}
    params: dict[str, Any] = {"active": "all"} if view == "search" else {}
    params |= {**filters, **fixed, "instance": name, "limit": PAGE_SIZE}
    params["cursor"] = request.query_params.get("cursor")
    found = await page.gather(
        instances=page.instances(),
        cases=page.api.get(CASE, "/cases", **params),
        case_types=page.api.get(CASE, "/case-types", instance=name),
        statuses=page.api.get(CASE, "/case-statuses"),
    )
    if isinstance(found["cases"], Exception):
        raise found["cases"]
    instance = instance_named(found["instances"], name)
    return await page.render(
        "case_list.html",
        instances=found["instances"],
        instance=instance,
        view=view,
        title=title,
        cases=found["cases"],
        filters=filters,
        case_types=_items(found["case_types"]),
        statuses=_items(found["statuses"]),
        query={k: v for k, v in request.query_params.items() if k != "cursor"},
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


def _items(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, Exception) or answer is None:
        return []
    return answer["items"] if isinstance(answer, dict) else answer
