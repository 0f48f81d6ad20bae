"""Checks on a form definition that span its fields (pydantic checks each field alone)."""

from __future__ import annotations

from typing import Any

from intake_svc.schemas import FormDefinition


def definition_problems(form: FormDefinition) -> list[dict[str, Any]]:
    """Each problem in FastAPI's 422 shape, pointing at the field at fault."""
    problems: list[dict[str, Any]] = []
    names: set[str] = set()
    targets: set[str] = set()
    for index, field in enumerate(form.fields):
        if field.name in names:
            problems.append(_problem(["fields", index, "name"], f"{field.name!r} is used twice"))
        names.add(field.name)
        if field.maps_to is None:
            continue
        if field.maps_to in targets:
            problems.append(
                _problem(["fields", index, "maps_to"], f"{field.maps_to} is mapped twice")
            )
        targets.add(field.maps_to)
        if field.maps_to == "contact.email" and (field.type != "email" or not field.required):
            # The email is how case-svc finds the contact and how messages are keyed.
            problems.append(
                _problem(
                    ["fields", index, "maps_to"],
                    "the field mapped to contact.email must be a required email field",
                )
            )
    if form.duplicate_contact_rule == "email" and "contact.email" not in targets:
        problems.append(
            _problem(["fields"], "the email duplicate rule needs a field mapped to contact.email")
        )
    return problems


def _problem(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}
