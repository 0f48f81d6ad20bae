"""When a rule fires: its trigger names the event (narrowed by instance, case type, activity
type or custom field), and its conditions hold on the event's facts. Pure functions.

A condition is ``{"field", "op", "value"}`` or a group ``{"all": [...]}`` / ``{"any": [...]}``.
Facts are the event's data as dicts: ``case``, ``changes``, ``activity``, ``origin``,
``event`` and, when a delayed action comes due, ``activities`` (counts per type and status).
"""

from __future__ import annotations

from typing import Any

from casestream.contracts.activity import ACTIVITY_EVENT_TYPES
from casestream.contracts.case import (
    CASE_EVENT_TYPES,
    CASE_OPENED,
    CASE_SUBMISSION_ATTACHED,
    CASE_UPDATED,
)
from casestream.contracts.sales import SALES_EVENT_TYPES

# Derived triggers: a case.updated that changed a custom value, and a case.opened (or
# case.submission_attached) that came from a web form: the rule acts on that case.
CUSTOM_FIELD_CHANGED = "case.custom_field_changed"
FORM_SUBMITTED = "intake.submission_received"
KNOWN_EVENTS = (
    *CASE_EVENT_TYPES,
    *ACTIVITY_EVENT_TYPES,
    *SALES_EVENT_TYPES,
    CUSTOM_FIELD_CHANGED,
    FORM_SUBMITTED,
)
CONDITION_OPS = ("eq", "ne", "in", "gt", "lt", "contains", "changed", "changed_to")

MISSING = object()


def triggers_for(event_type: str) -> list[str]:
    """The trigger names an event of this type may satisfy."""
    if event_type == CASE_UPDATED:
        return [CASE_UPDATED, CUSTOM_FIELD_CHANGED]
    if event_type in (CASE_OPENED, CASE_SUBMISSION_ATTACHED):
        return [event_type, FORM_SUBMITTED]
    return [event_type]


def trigger_matches(trigger: dict[str, Any], event_type: str, facts: dict[str, Any]) -> bool:
    wanted = trigger.get("event")
    if wanted not in triggers_for(event_type):
        return False
    if wanted == CUSTOM_FIELD_CHANGED:
        custom = (facts.get("changes") or {}).get("custom")
        if not isinstance(custom, dict):
            return False
        field = trigger.get("field")
        if field is not None and _sub(custom.get("before"), field) == _sub(
            custom.get("after"), field
        ):
            return False
    if wanted == FORM_SUBMITTED:
        origin = facts.get("origin") or {}
        if origin.get("submission_id") is None:
            return False
        if trigger.get("form") is not None and origin.get("form") != trigger["form"]:
            return False
    case = facts.get("case") or {}
    for narrowing in ("instance", "case_type"):
        if trigger.get(narrowing) is not None and case.get(narrowing) != trigger[narrowing]:
            return False
    activity_type = trigger.get("activity_type")
    return activity_type is None or (facts.get("activity") or {}).get("type") == activity_type


def conditions_hold(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> bool:
    return all(condition_holds(c, facts) for c in conditions)


def first_holding(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> str | None:
    """The first condition (of a cancel_if list) that holds, described; None if none does."""
    for condition in conditions:
        if condition_holds(condition, facts):
            return describe(condition)
    return None


def failing(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> list[str]:
    """The conditions that do not hold, described (for a dry run)."""
    return [describe(c) for c in conditions if not condition_holds(c, facts)]


def describe(condition: dict[str, Any]) -> str:
    for group in ("all", "any"):
        if condition.get(group) is not None:
            return f"{group}({'; '.join(describe(c) for c in condition[group])})"
    return f"{condition['field']} {condition['op']} {condition.get('value')!r}"


def condition_holds(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    if condition.get("all") is not None:
        return all(condition_holds(c, facts) for c in condition["all"])
    if condition.get("any") is not None:
        return any(condition_holds(c, facts) for c in condition["any"])
    op, field, wanted = condition["op"], condition["field"], condition.get("value")
    if op in ("changed", "changed_to"):
        change = _change_of(field, facts)
        if change is None:
            return False
        before, after = change
        return before != after and (op == "changed" or after == wanted)
    actual = resolve(field, facts)
    if actual is MISSING:
        # A field the facts do not have: only "not equal" can hold.
        return op == "ne"
    try:
        if op == "eq":
            return actual == wanted
        if op == "ne":
            return actual != wanted
        if op == "in":
            return isinstance(wanted, list) and actual in wanted
        if op == "gt":
            return actual is not None and actual > wanted
        if op == "lt":
            return actual is not None and actual < wanted
        if op == "contains":
            return isinstance(actual, (list, str)) and wanted in actual
    except TypeError:  # comparing a number with a string: the condition does not hold
        return False
    return False


def _change_of(field: str, facts: dict[str, Any]) -> tuple[Any, Any] | None:
    """(before, after) of ``case.status`` / ``status`` / ``case.custom.ward`` in this event."""
    path = field.split(".")
    if path[0] in ("case", "changes"):
        path = path[1:]
    if not path:
        return None
    change = (facts.get("changes") or {}).get(path[0])
    if not isinstance(change, dict):
        return None
    rest = ".".join(path[1:])
    if not rest:
        return change.get("before"), change.get("after")
    return _sub(change.get("before"), rest), _sub(change.get("after"), rest)


def _sub(value: Any, path: str) -> Any:
    found = resolve(path, value) if isinstance(value, dict) else MISSING
    return None if found is MISSING else found


def resolve(path: str, facts: dict[str, Any]) -> Any:
    """The value at a dotted path (``case.custom.x``), or ``MISSING``."""
    value: Any = facts
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value
