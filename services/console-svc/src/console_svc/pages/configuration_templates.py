"""One email template, and its preview: notify-svc renders it for a case (and says who it
would go to). The rendered HTML is shown as its source, escaped, never as part of the page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.services_api import NOTIFY, Refused
from console_svc.web import CurrentPage, PostedPage, form_text

router = APIRouter()


@router.get("/configuration/templates/{name}", response_class=HTMLResponse)
async def template_page(page: CurrentPage, name: str) -> Response:
    template = await page.api.get(NOTIFY, f"/templates/{name}")
    return await page.render("configuration_template.html", email_template=template, tried={})


@router.post("/configuration/templates/{name}/preview", response_class=HTMLResponse)
async def preview(page: PostedPage, request: Request, name: str) -> Response:
    form = await request.form()
    tried = {"case_id": form_text(form, "case_id"), "to": form_text(form, "to")}
    template = await page.api.get(NOTIFY, f"/templates/{name}")
    body: dict[str, object] = {"case_id": tried["case_id"] or ""}
    if tried["to"]:
        body["to"] = [part.strip() for part in tried["to"].split(",") if part.strip()]
    try:
        rendered = await page.api.post(NOTIFY, f"/templates/{name}/preview", json=body)
    except Refused as refused:
        return await page.render(
            "configuration_template.html",
            status_code=refused.status,
            email_template=template,
            tried=tried,
            refused=refused,
        )
    return await page.render(
        "configuration_template.html", email_template=template, tried=tried, rendered=rendered
    )
