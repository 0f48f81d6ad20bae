"""The start page and each instance's dashboard: cases by type and status, my open cases,
the pool and overdue activities, each number a link to the list behind it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console_svc.pages.instances import instance_named
from console_svc.services_api import CASE
from console_svc.web import CurrentPage

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def start(page: CurrentPage) -> Response:
    instances = await page.instances()
    if instances:
        return RedirectResponse(f"/i/{instances[0]['name']}", status_code=303)
    return await page.render("empty.html", instances=instances)


@router.get("/i/{name}", response_class=HTMLResponse)
async def dashboard(page: CurrentPage, name: str) -> Response:
    instances = await page.instances()
    instance = instance_named(instances, name)
    summary = await page.api.get(CASE, "/dashboard/summary", instance=name)
    types: dict[str, dict] = {}
    statuses: dict[str, str] = {}
    for count in summary["counts"]:
        row = types.setdefault(
            count["case_type"],
            {"name": count["case_type"], "title": count["case_type_title"], "counts": {}},
        )
        row["counts"][count["status"]] = count
        statuses.setdefault(count["status"], count["status_label"] or count["status"])
    return await page.render(
        "dashboard.html",
        instances=instances,
        instance=instance,
        summary=summary,
        types=list(types.values()),
        statuses=statuses,
    )
