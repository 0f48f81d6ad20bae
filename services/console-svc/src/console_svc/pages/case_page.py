"""One case on one page: its facts, the timeline of activities, its history and its emails,
each read from the service that owns it, at the same time. A part a service refused shows
a sentence saying so; the rest of the page still works. The actions' forms post to
``case_actions``, which shows this page again (``show_case``) when a service says no."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from console_svc.pages.case_parts import Part, custom_values, history_of, timeline_of
from console_svc.services_api import ACTIVITY, CASE, NOTIFY, Refused
from console_svc.web import CurrentPage, Page

router = APIRouter()

TIMELINE_SIZE = 200
EMAILS_SHOWN = 50


@dataclass
class Failed:
    """A form on the page the service refused: which, why, per field, and what was sent."""

    form: str
    message: str
    status: int
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    stale: bool = False


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(page: CurrentPage, case_id: str) -> Response:
    return await show_case(page, case_id)


def known_case_id(case_id: str) -> str:
    """A case id as the services spell it; anything else is a case no one has."""
    try:
        return str(uuid.UUID(case_id))
    except ValueError:
        raise Refused(404, "There is no such case.") from None


async def show_case(
    page: Page,
    case_id: str,
    *,
    status_code: int = 200,
    failed: Failed | None = None,
    preview: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The case as the services hold it now (after a refused action too: the page re-reads)."""
    case_id = known_case_id(case_id)
    api = page.api
    found = await page.gather(
        instances=page.instances(),
        case=api.get(CASE, f"/cases/{case_id}"),
        history=api.get(CASE, f"/cases/{case_id}/history"),
        statuses=api.get(CASE, "/case-statuses"),
        case_types=api.get(CASE, "/case-types"),
        activities=api.get(ACTIVITY, f"/cases/{case_id}/activities", limit=TIMELINE_SIZE),
        activity_types=api.get(ACTIVITY, "/activity-types"),
        emails=api.get(NOTIFY, "/emails", case_id=case_id, limit=EMAILS_SHOWN),
        templates=api.get(NOTIFY, "/templates", limit=200),
    )
    case = found["case"]
    if isinstance(case, Refused):
        raise case
    instance = next((i for i in found["instances"] if i["name"] == case["instance"]), None)
    case_types = Part.of(found["case_types"]).items
    case_type = next((t for t in case_types if t["name"] == case["case_type"]), None)
    definition = (case_type or {}).get("definition") or {}
    statuses = _statuses_of(definition, Part.of(found["statuses"]).items)
    activity_types = {t["name"]: t["label"] for t in Part.of(found["activity_types"]).items}
    history = history_of(Part.of(found["history"]))
    return await page.render(
        "case.html",
        status_code=status_code,
        instances=found["instances"],
        instance=instance,
        case=case,
        case_type=case_type,
        definition=definition,
        status_label={s["name"]: s["label"] for s in Part.of(found["statuses"]).items},
        opened_statuses=[s for s in statuses if s["grouping"] == "opened"],
        closed_statuses=[s for s in statuses if s["grouping"] == "closed"],
        transfer_types=_transfer_targets(page, case, case_types, found["instances"]),
        activity_choices=_activity_choices(definition, activity_types),
        activity_sets=definition.get("activity_sets") or [],
        custom_fields=custom_values(definition, case.get("custom") or {}),
        timeline=timeline_of(Part.of(found["activities"]), activity_types),
        history=history,
        emails=Part.of(found["emails"]),
        templates=[t["name"] for t in Part.of(found["templates"]).items],
        sales=bool(instance and instance.get("instance_type") == "sales_opportunity"),
        failed=failed,
        preview=preview,
        form_key=uuid.uuid4().hex,
    )


def _statuses_of(definition: dict[str, Any], known: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statuses the case type allows (every status if it names none), in their order."""
    names = definition.get("statuses") or [s["name"] for s in known]
    return sorted((s for s in known if s["name"] in names), key=lambda s: s.get("weight") or 0)


def _transfer_targets(
    page: Page, case: dict[str, Any], case_types: list[dict[str, Any]], instances: list[dict]
) -> list[dict[str, Any]]:
    """Other active case types in a workspace the user may open cases in (the menu only:
    case-svc decides)."""
    staff = page.session.staff
    if not staff.may("add_cases"):
        return []
    labels = {i["name"]: i["label"] for i in instances}
    return [
        {**t, "instance_label": labels[t["instance"]]}
        for t in case_types
        if t["name"] != case["case_type"] and t.get("active", True) and t["instance"] in labels
    ]


def _activity_choices(definition: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, str]]:
    names = definition.get("activity_types") or list(labels)
    return [(name, labels.get(name, name)) for name in names]
