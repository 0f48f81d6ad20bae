"""The new-case form and case-svc's ``POST /cases`` body, both ways: the form's fields as
the body (custom fields typed as their case type says), and the service's field names in
its refusal as the form's (so each message stands next to its field)."""

from __future__ import annotations

from typing import Any

from console_svc.web import form_text

CLIENT_FIELDS = ("first_name", "last_name", "email")
OPPORTUNITY_FIELDS = ("amount", "currency", "expected_close_date")


def custom_input(case_type: str, field: str) -> str:
    """The form field of a case type's custom field (each type has its own fieldset)."""
    return f"custom.{case_type}.{field}"


def case_body(form: Any, case_types: list[dict[str, Any]]) -> dict[str, Any]:
    case_type = form_text(form, "case_type") or ""
    body: dict[str, Any] = {
        "case_type": case_type,
        "subject": form_text(form, "subject") or "",
        "details": form_text(form, "details"),
        "start_date": form_text(form, "start_date"),
    }
    contact_id = form_text(form, "contact_id")
    if contact_id:
        body["client_ids"] = [contact_id]
    client = {name: form_text(form, name) for name in CLIENT_FIELDS}
    if any(client.values()):
        body["client"] = {k: v for k, v in client.items() if v}
    opportunity = {name: form_text(form, f"opportunity_{name}") for name in OPPORTUNITY_FIELDS}
    if any(opportunity.values()):
        body["opportunity"] = {k: v for k, v in opportunity.items() if v}
    definition = next((t["definition"] for t in case_types if t["name"] == case_type), {})
    custom = {}
    for field in definition.get("custom_fields") or []:
        value = _custom_value(form, custom_input(case_type, field["name"]), field)
        if value is not None:
            custom[field["name"]] = value
    body["custom"] = custom
    return {k: v for k, v in body.items() if v is not None}


def _custom_value(form: Any, name: str, field: dict[str, Any]) -> Any:
    """As the field's type wants it; a value that is not one goes as typed, for case-svc
    to say what it expected."""
    kind = field.get("type") or "text"
    if kind == "boolean":
        return form_text(form, name) == "true"
    if kind == "multiselect":
        chosen = [str(v) for v in form.getlist(name) if str(v).strip()]
        return chosen or None
    text = form_text(form, name)
    if text is None or kind != "number":
        return text
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    return text


def field_names(service_fields: dict[str, str], case_type: str | None) -> dict[str, str]:
    """case-svc's field names (``client.email``, ``custom.age``) as the form's inputs."""
    named: dict[str, str] = {}
    for loc, message in service_fields.items():
        head, _, rest = loc.partition(".")
        if head == "client_ids":
            name = "contact_id" if rest else "client"
        elif head == "client" and rest in CLIENT_FIELDS:
            name = rest
        elif head == "custom" and rest and case_type:
            name = custom_input(case_type, rest)
        elif head == "opportunity" and rest:
            name = f"opportunity_{rest}"
        else:
            name = loc
        named[name] = message
    return named
