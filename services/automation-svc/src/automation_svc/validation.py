"""Checks on a rule that need what automation-svc has learnt from the other services: the
templates it names (notify-svc), and the statuses, roles, activity types and custom fields
of the case types it can act on (case-svc). Each error names the field, in FastAPI's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from automation_svc import read_models
from automation_svc.schemas import Condition, RuleIn
from casestream.contracts.activity import ActivityState
from casestream.contracts.case import CaseState
from casestream.contracts.sales import InvoiceState, QuotationState

# What a condition may look at: the event's data, and (when a delayed action comes due)
# the case's activity counts and the time.
FACT_ROOTS = (
    "case",
    "changes",
    "activity",
    "activities",
    "origin",
    "event",
    "actor",
    "now",
    "quotation",
    "invoice",
)
# A quotation or invoice event's document: its first field must be one of the state's.
_DOCUMENTS = {"quotation": QuotationState, "invoice": InvoiceState}
_COUNTS = ("scheduled", "completed", "cancelled", "total")


@dataclass
class Scope:
    """What the case types a rule can touch allow, put together."""

    names: list[str]
    statuses: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    activity_types: set[str] = field(default_factory=set)
    custom_fields: set[str] = field(default_factory=set)


async def rule_errors(session: AsyncConnection, rule: RuleIn) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    known_types = await read_models.known_case_types(session)
    scope = _scope(rule, known_types, errors)
    for where, conditions in (("conditions", rule.conditions), ("cancel_if", rule.cancel_if)):
        _check_conditions(conditions, ["body", where], scope, errors)
    templates = await read_models.known_template_names(session)
    for index, action in enumerate(rule.actions):
        loc = ["body", "actions", index]
        if action.repeat is not None:
            _check_conditions(action.repeat.until, [*loc, "repeat", "until"], scope, errors)
        if action.at is not None and (problem := field_problem(action.at.field, scope)):
            errors.append(_error([*loc, "at", "field"], problem))
        if action.type == "send_email" and action.template and action.template not in templates:
            errors.append(
                _error(
                    [*loc, "template"],
                    f"no template named {action.template!r} in notify-svc; known: "
                    f"{_listed(templates)}",
                )
            )
        for attribute, allowed, what in (
            ("status", scope.statuses, "status"),
            ("role", scope.roles, "role"),
            ("activity_type", scope.activity_types, "activity type"),
        ):
            value = getattr(action, attribute, None)
            if value is not None and value not in allowed:
                errors.append(
                    _error(
                        [*loc, attribute],
                        f"unknown {what} {value!r} for case type {_listed(scope.names)}; "
                        f"known: {_listed(allowed)}",
                    )
                )
    return errors


def _scope(rule: RuleIn, known: dict[str, dict[str, Any]], errors: list[dict[str, Any]]) -> Scope:
    trigger = rule.trigger
    if trigger.case_type is not None:
        if trigger.case_type not in known:
            errors.append(
                _error(
                    ["body", "trigger", "case_type"],
                    f"unknown case type {trigger.case_type!r}; known: {_listed(known)}",
                )
            )
        chosen = {k: v for k, v in known.items() if k == trigger.case_type}
    else:
        chosen = {k: v for k, v in known.items() if trigger.instance in (None, v.get("instance"))}
    scope = Scope(sorted(chosen))
    for definition in chosen.values():
        scope.statuses |= set(definition.get("statuses") or [])
        scope.roles |= {r["name"] for r in definition.get("roles") or []}
        scope.activity_types |= set(definition.get("activity_types") or [])
        for activity_set in definition.get("activity_sets") or []:
            scope.activity_types |= {a["type"] for a in activity_set.get("activities") or []}
        scope.custom_fields |= {f["name"] for f in definition.get("custom_fields") or []}
    return scope


def _check_conditions(
    conditions: list[Condition], loc: list[Any], scope: Scope, errors: list[dict[str, Any]]
) -> None:
    for index, condition in enumerate(conditions):
        for group in ("all", "any"):
            if (members := getattr(condition, group)) is not None:
                _check_conditions(members, [*loc, index, group], scope, errors)
        if condition.field is not None and (problem := field_problem(condition.field, scope)):
            errors.append(_error([*loc, index, "field"], problem))


def field_problem(path: str, scope: Scope) -> str | None:
    """Why a dotted path names nothing a rule can see, or None."""
    parts = path.split(".")
    root = parts[0]
    if root not in FACT_ROOTS:
        return f"unknown field {path!r}: it must start with one of {', '.join(FACT_ROOTS)}"
    if len(parts) < 2:
        return None
    if root in _DOCUMENTS and parts[1] not in _DOCUMENTS[root].model_fields:
        fields = ", ".join(sorted(_DOCUMENTS[root].model_fields))
        return f"unknown field {path!r}; {root} has: {fields}"
    if root in ("case", "changes"):
        known = set(CaseState.model_fields) | (
            set(ActivityState.model_fields)
            | set(InvoiceState.model_fields)
            | set(QuotationState.model_fields)
            if root == "changes"
            else set()
        )
        if parts[1] not in known:
            return f"unknown field {path!r}; {root} has: {', '.join(sorted(known))}"
        if parts[1] == "custom" and len(parts) > 2 and parts[2] not in scope.custom_fields:
            return (
                f"unknown custom field {parts[2]!r} for case type {_listed(scope.names)}; "
                f"known: {_listed(scope.custom_fields)}"
            )
    if root == "activity" and parts[1] not in ActivityState.model_fields:
        return (
            f"unknown field {path!r}; activity has: {', '.join(sorted(ActivityState.model_fields))}"
        )
    if root == "activities":
        if parts[1] not in scope.activity_types:
            return (
                f"unknown activity type {parts[1]!r} in {path!r}; known: "
                f"{_listed(scope.activity_types)}"
            )
        if len(parts) > 2 and parts[2] not in _COUNTS:
            return f"{path!r}: after the activity type comes one of {', '.join(_COUNTS)}"
    return None


def _listed(values: Any) -> str:
    return ", ".join(sorted(values)) or "(none yet)"


def _error(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": "value_error"}
