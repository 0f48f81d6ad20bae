"""Does a form definition fit its case type (as case-svc last described it)? Every field
mapped to ``case.custom.<name>`` must name a custom field the type has, be of a type whose
values pass that field's check, and offer only options the field accepts; the custom fields
the type requires must be filled by required form fields. Otherwise every submission would
be rejected by case-svc after the visitor was told it was received."""

from __future__ import annotations

from typing import Any

from casestream.contracts.case import CaseTypeDefinition, CustomField
from intake_svc.form_rules import problem
from intake_svc.mapping import CUSTOM_PREFIX
from intake_svc.schemas import FormDefinition, FormField

# Custom field type -> the form field types whose checked values case-svc accepts for it.
HOLDERS: dict[str, tuple[str, ...]] = {
    "text": ("text", "textarea", "email", "phone", "date", "select"),
    "number": ("number",),
    "money": ("number",),
    "date": ("date",),
    "datetime": (),
    "boolean": ("checkbox",),
    "select": ("select",),
    "multiselect": ("multiselect",),
    "email": ("email",),
    "phone": ("phone",),
    "url": ("text",),  # no url input: the text must be a web address, or case-svc refuses it
    "contact_reference": (),  # a visitor cannot name a contact by id
}


def case_type_problems(
    form: FormDefinition, definition: CaseTypeDefinition | None
) -> list[dict[str, Any]]:
    if definition is None:
        return [
            problem(
                ["case_type"],
                f"unknown case type {form.case_type!r} (case-svc has not announced it)",
            )
        ]
    custom = {f.name: f for f in definition.custom_fields}
    problems: list[dict[str, Any]] = []
    mapped: dict[str, FormField] = {}
    for index, field in enumerate(form.fields):
        if not (field.maps_to or "").startswith(CUSTOM_PREFIX):
            continue
        name = (field.maps_to or "").removeprefix(CUSTOM_PREFIX)
        target = custom.get(name)
        if target is None:
            problems.append(
                problem(
                    ["fields", index, "maps_to"],
                    f"case type {form.case_type!r} has no custom field {name!r}",
                )
            )
            continue
        mapped[name] = field
        problems += [
            problem(["fields", index, *attribute], message)
            for attribute, message in _misfits(field, target)
        ]
    for name, target in custom.items():
        if target.required and target.default in (None, "", []) and name not in mapped:
            problems.append(
                problem(
                    ["fields"],
                    f"case type {form.case_type!r} requires its custom field {name!r}: "
                    f"map a required field to {CUSTOM_PREFIX}{name}",
                )
            )
    return problems


def _misfits(field: FormField, target: CustomField) -> list[tuple[list[Any], str]]:
    holders = HOLDERS.get(target.type, ())
    if field.type not in holders:
        fits = f"use {' or '.join(holders)}" if holders else "no form field type can"
        return [
            (
                ["type"],
                f"a {field.type} field cannot hold the {target.type} custom field "
                f"{target.name!r} ({fits})",
            )
        ]
    misfits: list[tuple[list[Any], str]] = []
    if target.type in ("select", "multiselect"):
        foreign = [o for o in field.options or [] if o not in (target.options or [])]
        if foreign:
            misfits.append(
                (
                    ["options"],
                    f"{', '.join(map(repr, foreign))} not among the options of the custom field "
                    f"{target.name!r}: {', '.join(map(repr, target.options or []))}",
                )
            )
    required = target.required and target.default in (None, "", [])
    # An unticked checkbox still says "no"; any other optional field can come back empty.
    if required and not field.required and field.type != "checkbox":
        misfits.append(
            (
                ["required"],
                f"the custom field {target.name!r} is required by the case type: "
                "make this field required",
            )
        )
    return misfits
