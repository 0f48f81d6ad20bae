"""Checks on a form definition that span its fields (pydantic checks each field alone)."""

from __future__ import annotations

from typing import Any

from intake_svc.schemas import FormDefinition

NAME_PHONE = ("contact.first_name", "contact.last_name", "contact.phone")


def definition_problems(form: FormDefinition) -> list[dict[str, Any]]:
    """Each problem in FastAPI's 422 shape, pointing at the field at fault."""
    problems: list[dict[str, Any]] = []
    names: set[str] = set()
    targets: set[str] = set()
    by_email_only = form.duplicate_contact_rule == "email"
    for index, field in enumerate(form.fields):
        if field.name in names:
            problems.append(problem(["fields", index, "name"], f"{field.name!r} is used twice"))
        names.add(field.name)
        if field.maps_to is None:
            continue
        if field.maps_to in targets:
            problems.append(
                problem(["fields", index, "maps_to"], f"{field.maps_to} is mapped twice")
            )
        targets.add(field.maps_to)
        if field.maps_to == "contact.email" and (
            field.type != "email" or (by_email_only and not field.required)
        ):
            # The email is how case-svc finds the contact and how messages are keyed.
            needed = "an email field" if not by_email_only else "a required email field"
            problems.append(
                problem(
                    ["fields", index, "maps_to"],
                    f"the field mapped to contact.email must be {needed}",
                )
            )
    if by_email_only and "contact.email" not in targets:
        problems.append(
            problem(["fields"], "the email duplicate rule needs a field mapped to contact.email")
        )
    if not by_email_only and (missing := [t for t in NAME_PHONE if t not in targets]):
        problems.append(
            problem(
                ["duplicate_contact_rule"],
                "the email_or_name_phone rule needs fields mapped to contact.first_name, "
                f"contact.last_name and contact.phone (missing: {', '.join(missing)})",
            )
        )
    return problems


def problem(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}
