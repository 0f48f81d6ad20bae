"""The case page's actions on its timeline (activity-svc): add an activity, complete one
(with the next one scheduled in the same step: the process action) and apply an activity
set of the case type."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console_svc.pages.case_forms import BadInput, done, due_at, if_match, refused_page
from console_svc.pages.case_page import known_case_id
from console_svc.services_api import ACTIVITY, Refused
from console_svc.web import PostedPage, form_text

router = APIRouter()

# Where activity-svc's field names appear on the forms.
ACTIVITY_FIELDS = {"due_at": "due_date"}
COMPLETE_FIELDS = {"next.due_at": "next_due_date"}


@router.post("/cases/{case_id}/activities")
async def add_activity(page: PostedPage, request: Request, case_id: str) -> Response:
    form = await request.form()
    case_id = known_case_id(case_id)
    status = "completed" if form_text(form, "status") == "completed" else "scheduled"
    try:
        body = {
            "case_id": case_id,
            "type": form_text(form, "type") or "",
            "subject": form_text(form, "subject"),
            "details": form_text(form, "details"),
            "status": status,
            "due_at": due_at(form, "due_date", "due_time"),
        }
        await page.api.post(ACTIVITY, "/activities", json=body)
    except (Refused, BadInput) as refusal:
        return await refused_page(page, case_id, "activity", form, refusal, ACTIVITY_FIELDS)
    notice = "The activity is recorded." if status == "completed" else "The activity is scheduled."
    return done(form, case_id, notice)


@router.post("/activities/{activity_id}/complete")
async def complete_activity(page: PostedPage, request: Request, activity_id: str) -> Response:
    """Complete the activity; with a next type, schedule the next one in the same step."""
    form = await request.form()
    case_id = known_case_id(form_text(form, "case_id") or "")
    form_name = f"complete-{activity_id}"
    try:
        body = {"outcome": form_text(form, "outcome"), "details": form_text(form, "details")}
        next_type = form_text(form, "next_type")
        if next_type:
            body["next"] = {
                "type": next_type,
                "subject": form_text(form, "next_subject"),
                "due_at": due_at(form, "next_due_date", "next_due_time", required=True),
            }
        await page.api.post(
            ACTIVITY, f"/activities/{activity_id}/complete", json=body, headers=if_match(form)
        )
    except (Refused, BadInput) as refusal:
        return await refused_page(
            page, case_id, form_name, form, refusal, COMPLETE_FIELDS, what="activity"
        )
    notice = "The activity is completed."
    if next_type:
        notice += " The next one is scheduled."
    return done(form, case_id, notice)


@router.post("/cases/{case_id}/timelines")
async def apply_activity_set(page: PostedPage, request: Request, case_id: str) -> Response:
    form = await request.form()
    case_id = known_case_id(case_id)
    # The key the page was rendered with: sending the form twice applies the set once.
    key = form_text(form, "key")
    headers = {"Idempotency-Key": key} if key else {}
    try:
        await page.api.post(
            ACTIVITY,
            f"/cases/{case_id}/timelines",
            json={"activity_set": form_text(form, "activity_set") or ""},
            headers=headers,
        )
    except Refused as refusal:
        return await refused_page(page, case_id, "timeline", form, refusal)
    return done(form, case_id, "The activities of the set are scheduled.")
