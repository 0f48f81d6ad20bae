"""Configuration, read only: the web forms (with their public links), the rules (each with a
dry run) and the email templates (each with a preview). The menu offers it to users with
``configure``; the services decide what anyone may read or try."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.pages import configuration_rules, configuration_templates
from console_svc.services_api import AUTOMATION, INTAKE, NOTIFY, Refused
from console_svc.web import CurrentPage

router = APIRouter()
router.include_router(configuration_rules.router)
router.include_router(configuration_templates.router)

PAGE_SIZE = 50
# Each list: (service, path, title).
LISTS = {
    "forms": (INTAKE, "/forms", "Web forms"),
    "rules": (AUTOMATION, "/rules", "Rules"),
    "templates": (NOTIFY, "/templates", "Email templates"),
}


@router.get("/configuration", response_class=HTMLResponse)
async def overview(page: CurrentPage, request: Request) -> Response:
    """The first page of each list at once; a list a service would not give says why."""
    found = await page.gather(
        instances=page.instances(),
        **{
            name: page.api.get(service, path, limit=PAGE_SIZE)
            for name, (service, path, _) in LISTS.items()
        },
    )
    instances = found.pop("instances")
    return await page.render(
        "configuration.html",
        instances=instances,
        lists=found,
        refused={name: answer for name, answer in found.items() if isinstance(answer, Refused)},
        public_forms=public_forms_url(request),
    )


@router.get("/configuration/{kind}", response_class=HTMLResponse)
async def one_list(page: CurrentPage, request: Request, kind: str) -> Response:
    if kind not in LISTS:
        raise Refused(404, f"There is no configuration page {kind!r}.")
    service, path, title = LISTS[kind]
    cursor = request.query_params.get("cursor")
    found = await page.api.get(service, path, limit=PAGE_SIZE, cursor=cursor)
    return await page.render(
        "configuration_list.html",
        kind=kind,
        title=title,
        found=found,
        public_forms=public_forms_url(request),
        query={},
    )


def public_forms_url(request: Request) -> str:
    """Where the public opens a form: ``<this>/f/<slug>``."""
    settings: Any = request.app.state.settings
    return (settings.public_intake_url or settings.service_urls["intake-svc"]).rstrip("/")
