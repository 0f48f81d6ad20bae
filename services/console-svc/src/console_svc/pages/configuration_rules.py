"""One automation rule in words, and its dry run: would it fire on this case (or activity) as
automation-svc knows it now, and what would each action do. Nothing is written or sent;
automation-svc allows dry runs to users with ``configure`` only."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.services_api import AUTOMATION, Refused
from console_svc.web import CurrentPage, PostedPage, form_text, templates

router = APIRouter()


@router.get("/configuration/rules/{rule_id}", response_class=HTMLResponse)
async def rule_page(page: CurrentPage, rule_id: str) -> Response:
    rule = await page.api.get(AUTOMATION, f"/rules/{rule_id}")
    return await page.render("configuration_rule.html", rule=rule, tried={})


@router.post("/configuration/rules/{rule_id}/dry-run", response_class=HTMLResponse)
async def dry_run(page: PostedPage, request: Request, rule_id: str) -> Response:
    form = await request.form()
    tried = {"case_id": form_text(form, "case_id"), "activity_id": form_text(form, "activity_id")}
    rule = await page.api.get(AUTOMATION, f"/rules/{rule_id}")
    try:
        # One of the two, as given: automation-svc says what is missing or wrong.
        body = {field: value for field, value in tried.items() if value}
        result = await page.api.post(AUTOMATION, f"/rules/{rule_id}/dry-run", json=body)
    except Refused as refused:
        return await page.render(
            "configuration_rule.html",
            status_code=refused.status,
            rule=rule,
            tried=tried,
            refused=refused,
        )
    return await page.render("configuration_rule.html", rule=rule, tried=tried, result=result)


def trigger_words(trigger: dict[str, Any]) -> str:
    """ "case.opened (instance cases, case type general_enquiry)"."""
    limits = [
        f"{label} {trigger[key]}"
        for key, label in (
            ("instance", "instance"),
            ("case_type", "case type"),
            ("activity_type", "activity type"),
            ("field", "field"),
            ("form", "form"),
        )
        if trigger.get(key)
    ]
    return trigger["event"] + (f" ({', '.join(limits)})" if limits else "")


def condition_words(condition: dict[str, Any]) -> str:
    for group in ("all", "any"):
        if condition.get(group):
            parts = [condition_words(c) for c in condition[group]]
            return f"{group} of ({'; '.join(parts)})"
    words = f"{condition.get('field')} {condition.get('op')}"
    if "value" in condition and condition.get("op") != "changed":
        words += f" {json.dumps(condition['value'])}"
    return words


def action_words(action: dict[str, Any]) -> str:
    """What an action does and when, e.g. "send_email: template follow_up, after P1D"."""
    when = []
    if action.get("delay"):
        when.append(f"after {action['delay']}")
    if action.get("at"):
        at = action["at"]
        when.append(f"at {at['field']} {at.get('offset') or ''}".rstrip())
    if action.get("repeat"):
        when.append(f"repeated {json.dumps(action['repeat'])}")
    details = [
        f"{key.replace('_', ' ')} {_shown(value)}"
        for key, value in action.items()
        if key not in ("type", "delay", "at", "repeat") and value not in (None, [], {})
    ]
    return action["type"] + (": " + ", ".join(details + when) if details or when else "")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


templates.env.filters["trigger_words"] = trigger_words
templates.env.filters["condition_words"] = condition_words
templates.env.filters["action_words"] = action_words
templates.env.filters["as_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
