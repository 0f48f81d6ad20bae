"""Emailing the case's clients from a template (notify-svc): first a preview of the
template rendered for this case on the case page, then sending exactly that template."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console_svc.pages.case_forms import BadInput, done, refused_page
from console_svc.pages.case_page import known_case_id, show_case
from console_svc.services_api import NOTIFY, Refused
from console_svc.web import PostedPage, form_text

router = APIRouter()

TO_CLIENTS = ["clients"]


@router.post("/cases/{case_id}/email/preview")
async def preview_email(page: PostedPage, request: Request, case_id: str) -> Response:
    form = await request.form()
    case_id = known_case_id(case_id)
    template = form_text(form, "template")
    try:
        if template is None:
            raise BadInput({"template": "choose a template"})
        rendered = await page.api.post(
            NOTIFY,
            f"/templates/{quote(template, safe='')}/preview",
            json={"case_id": case_id, "to": TO_CLIENTS},
        )
    except (Refused, BadInput) as refusal:
        return await refused_page(page, case_id, "email", form, refusal)
    return await show_case(page, case_id, preview={**rendered, "template": template})


@router.post("/cases/{case_id}/email")
async def send_email(page: PostedPage, request: Request, case_id: str) -> Response:
    form = await request.form()
    case_id = known_case_id(case_id)
    template = form_text(form, "template") or ""
    body = {"case_id": case_id, "to": TO_CLIENTS, "template": template}
    try:
        await page.api.post(NOTIFY, "/emails", json=body)
    except Refused as refusal:
        return await refused_page(page, case_id, "email", form, refusal)
    return done(form, case_id, f"The email {template!r} is on its way to the clients.")
