"""Opening a case by hand in a workspace: its type, subject, details, the client (an
existing contact or a new one typed in), the start date and the type's own fields. case-svc
checks it all; a refusal shows the form again with what was typed and why, field by field."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.pages.instances import instance_named
from console_svc.pages.new_case_fields import case_body, custom_input, field_names
from console_svc.services_api import CASE, Refused
from console_svc.web import CurrentPage, Page, PostedPage, see_other

router = APIRouter()


@router.get("/i/{name}/cases/new", response_class=HTMLResponse)
async def new_case_form(page: CurrentPage, name: str) -> Response:
    return await _form(page, name)


@router.post("/i/{name}/cases/new", response_class=HTMLResponse)
async def open_case(page: PostedPage, request: Request, name: str) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    chosen = {k: [str(v) for v in form.getlist(k)] for k in form}
    case_types = await _case_types(page, name)
    try:
        body = case_body(form, case_types)
        case = await page.api.post(CASE, "/cases", json=body)
    except Refused as refusal:
        fields = field_names(refusal.fields, values.get("case_type"))
        message = refusal.message
        if refusal.status == 422 and fields:
            message = "Please correct the marked fields."
        return await _form(
            page,
            name,
            status_code=refusal.status,
            message=message,
            fields=fields,
            values=values,
            chosen=chosen,
        )
    return see_other(f"/cases/{case['id']}", notice="The case is opened.")


async def _case_types(page: Page, instance: str) -> list[dict[str, Any]]:
    """The active case types of the workspace (case-svc lists them all)."""
    found = await page.api.get(CASE, "/case-types")
    return [t for t in found if t["instance"] == instance and t.get("active", True)]


async def _form(
    page: Page,
    name: str,
    *,
    status_code: int = 200,
    message: str | None = None,
    fields: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    chosen: dict[str, list[str]] | None = None,
) -> HTMLResponse:
    found = await page.gather(instances=page.instances(), case_types=_case_types(page, name))
    instance = instance_named(found["instances"], name)
    case_types = found["case_types"]
    if isinstance(case_types, Refused):
        raise case_types
    return await page.render(
        "new_case.html",
        status_code=status_code,
        instances=found["instances"],
        instance=instance,
        page_name="new_case",
        case_types=case_types,
        sales=instance.get("instance_type") == "sales_opportunity",
        message=message,
        fields=fields or {},
        values=values or {},
        chosen=chosen or {},
        custom_input=custom_input,
    )
