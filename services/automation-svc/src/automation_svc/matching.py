"""When a rule fires: its trigger names the event (and optionally the instance or case
type), and every condition holds on the event's data. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from casestream.contracts.case import CASE_EVENT_TYPES

# The event types a rule may name as its trigger. Only the case.* ones arrive yet
# (automation-svc consumes case.events); the others are accepted so rules can be written now.
KNOWN_EVENTS = (
    *CASE_EVENT_TYPES,
    "activity.scheduled",
    "activity.completed",
    "intake.submission_received",
)
CONDITION_OPS = ("eq", "ne", "in", "gt", "lt", "contains", "changed_to")

_MISSING = object()


def trigger_matches(trigger: dict[str, Any], event_type: str, facts: dict[str, Any]) -> bool:
    if trigger.get("event") != event_type:
        return False
    case = facts.get("case") or {}
    for narrowing in ("instance", "case_type"):
        wanted = trigger.get(narrowing)
        if wanted is not None and case.get(narrowing) != wanted:
            return False
    return True


def conditions_hold(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> bool:
    return all(condition_holds(c, facts) for c in conditions)


def condition_holds(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    op, field, wanted = condition["op"], condition["field"], condition.get("value")
    if op == "changed_to":
        return _changed_to(field, wanted, facts)
    actual = resolve(field, facts)
    if actual is _MISSING:
        # A field the event does not have: only "not equal" can hold.
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


def _changed_to(field: str, wanted: Any, facts: dict[str, Any]) -> bool:
    """``changes.status`` (or ``case.status``) became ``wanted`` in this event."""
    name = field.split(".", 1)[1] if field.startswith(("changes.", "case.")) else field
    change = (facts.get("changes") or {}).get(name)
    if not isinstance(change, dict):
        return False
    return change.get("after") == wanted and change.get("before") != wanted


def resolve(path: str, facts: dict[str, Any]) -> Any:
    """The value at a dotted path (``case.custom.x``), or ``_MISSING``."""
    value: Any = facts
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value
