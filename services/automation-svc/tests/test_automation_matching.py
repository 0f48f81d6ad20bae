"""When a rule fires, on plain facts: no database, no broker (no fixtures at all)."""

import pytest

from automation_svc.matching import (
    CUSTOM_FIELD_CHANGED,
    FORM_SUBMITTED,
    MISSING,
    condition_holds,
    conditions_hold,
    describe,
    failing,
    first_holding,
    resolve,
    trigger_matches,
    triggers_for,
)

CASE = {
    "instance": "cases",
    "case_type": "general_enquiry",
    "status": "open",
    "tags": ["urgent", "housing"],
    "subject": "Leaking roof",
    "custom": {"ward": "North", "rooms": 3},
    "assignee": None,
}
FACTS = {"case": CASE, "changes": {"status": {"before": "new", "after": "open"}}}


def cond(field: str, op: str, value: object = None) -> dict:
    return {"field": field, "op": op, "value": value}


# Which triggers an event may satisfy


def test_a_case_update_may_be_a_custom_field_change():
    assert triggers_for("case.updated") == ["case.updated", CUSTOM_FIELD_CHANGED]


@pytest.mark.parametrize("event_type", ["case.opened", "case.submission_attached"])
def test_an_opened_or_attached_case_may_come_from_a_form(event_type):
    assert triggers_for(event_type) == [event_type, FORM_SUBMITTED]


def test_other_events_are_only_themselves():
    assert triggers_for("activity.completed") == ["activity.completed"]


# Triggers


def test_a_trigger_for_another_event_does_not_match():
    assert not trigger_matches({"event": "case.closed"}, "case.opened", {"case": CASE})
    assert trigger_matches({"event": "case.closed"}, "case.closed", {"case": CASE})


def test_a_trigger_narrowed_by_instance_and_case_type():
    trigger = {"event": "case.closed", "instance": "cases", "case_type": "general_enquiry"}
    assert trigger_matches(trigger, "case.closed", {"case": CASE})
    other_type = {"case": {**CASE, "case_type": "complaint"}}
    assert not trigger_matches(trigger, "case.closed", other_type)
    assert not trigger_matches({**trigger, "instance": "grants"}, "case.closed", {"case": CASE})


def test_a_trigger_narrowed_by_activity_type():
    trigger = {"event": "activity.completed", "activity_type": "follow_up_call"}
    call = {"case": CASE, "activity": {"type": "follow_up_call"}}
    meeting = {"case": CASE, "activity": {"type": "meeting"}}
    assert trigger_matches(trigger, "activity.completed", call)
    assert not trigger_matches(trigger, "activity.completed", meeting)
    assert not trigger_matches(trigger, "activity.completed", {"case": CASE})


def _custom_change(before: dict, after: dict) -> dict:
    return {"case": CASE, "changes": {"custom": {"before": before, "after": after}}}


def test_a_custom_field_trigger_needs_a_custom_change():
    trigger = {"event": CUSTOM_FIELD_CHANGED}
    assert not trigger_matches(trigger, "case.updated", FACTS)
    assert trigger_matches(trigger, "case.updated", _custom_change({}, {"ward": "North"}))


def test_a_custom_field_trigger_for_one_field_ignores_changes_to_others():
    trigger = {"event": CUSTOM_FIELD_CHANGED, "field": "ward"}
    rooms_only = _custom_change({"ward": "North", "rooms": 2}, {"ward": "North", "rooms": 3})
    assert not trigger_matches(trigger, "case.updated", rooms_only)
    moved = _custom_change({"ward": "North"}, {"ward": "South"})
    assert trigger_matches(trigger, "case.updated", moved)


def test_a_custom_field_set_for_the_first_time_is_a_change():
    trigger = {"event": CUSTOM_FIELD_CHANGED, "field": "ward"}
    assert trigger_matches(trigger, "case.updated", _custom_change({}, {"ward": "North"}))


def test_a_form_trigger_needs_a_submission():
    trigger = {"event": FORM_SUBMITTED}
    assert not trigger_matches(trigger, "case.opened", {"case": CASE})
    assert not trigger_matches(trigger, "case.opened", {"case": CASE, "origin": {"form": "x"}})
    submitted = {"case": CASE, "origin": {"submission_id": "s1", "form": "repairs"}}
    assert trigger_matches(trigger, "case.opened", submitted)
    assert trigger_matches(trigger, "case.submission_attached", submitted)


def test_a_form_trigger_narrowed_to_one_form():
    trigger = {"event": FORM_SUBMITTED, "form": "repairs"}
    repairs = {"case": CASE, "origin": {"submission_id": "s1", "form": "repairs"}}
    feedback = {"case": CASE, "origin": {"submission_id": "s2", "form": "feedback"}}
    assert trigger_matches(trigger, "case.opened", repairs)
    assert not trigger_matches(trigger, "case.opened", feedback)


# Conditions on values


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (cond("case.status", "eq", "open"), True),
        (cond("case.status", "eq", "closed"), False),
        (cond("case.status", "ne", "closed"), True),
        (cond("case.status", "in", ["open", "pending"]), True),
        (cond("case.status", "in", ["closed"]), False),
        (cond("case.status", "in", "open"), False),  # "in" wants a list, not a substring
        (cond("case.custom.rooms", "gt", 2), True),
        (cond("case.custom.rooms", "gt", 3), False),  # boundary: not greater
        (cond("case.custom.rooms", "lt", 4), True),
        (cond("case.custom.rooms", "lt", 3), False),  # boundary: not less
        (cond("case.custom.rooms", "gt", "2"), False),  # a number against a string
        (cond("case.assignee", "gt", 0), False),  # None is not greater than anything
        (cond("case.assignee", "eq", None), True),
        (cond("case.tags", "contains", "urgent"), True),
        (cond("case.tags", "contains", "parking"), False),
        (cond("case.subject", "contains", "roof"), True),
        (cond("case.custom.rooms", "contains", 3), False),  # a number contains nothing
        (cond("case.status", "matches", "open"), False),  # an unknown op never holds
    ],
)
def test_value_conditions(condition, holds):
    assert condition_holds(condition, FACTS) is holds


@pytest.mark.parametrize(("op", "holds"), [("eq", False), ("ne", True), ("in", False)])
def test_a_field_the_facts_lack_only_differs(op, holds):
    assert condition_holds(cond("case.custom.floor", op, ["1"]), FACTS) is holds


# Conditions on changes


def test_changed_and_changed_to():
    assert condition_holds(cond("case.status", "changed"), FACTS)
    assert condition_holds(cond("status", "changed"), FACTS)
    assert condition_holds(cond("changes.status", "changed_to", "open"), FACTS)
    assert not condition_holds(cond("case.status", "changed_to", "closed"), FACTS)


def test_a_field_not_in_the_changes_did_not_change():
    assert not condition_holds(cond("case.subject", "changed"), FACTS)
    assert not condition_holds(cond("case", "changed"), FACTS)


def test_a_change_to_the_same_value_is_no_change():
    same = {"changes": {"status": {"before": "open", "after": "open"}}}
    assert not condition_holds(cond("case.status", "changed"), same)
    assert not condition_holds(cond("case.status", "changed_to", "open"), same)


def test_a_change_inside_custom_values():
    facts = _custom_change({"ward": "North", "rooms": 3}, {"ward": "South", "rooms": 3})
    assert condition_holds(cond("case.custom.ward", "changed_to", "South"), facts)
    assert not condition_holds(cond("case.custom.rooms", "changed"), facts)


# Groups and lists


def test_all_and_any_groups_nest():
    urgent_or_north = {
        "any": [cond("case.tags", "contains", "parking"), cond("case.custom.ward", "eq", "North")]
    }
    both = {"all": [cond("case.status", "eq", "open"), urgent_or_north]}
    assert condition_holds(both, FACTS)
    assert not condition_holds({"all": [*both["all"], cond("case.status", "ne", "open")]}, FACTS)


def test_empty_groups():
    assert condition_holds({"all": []}, FACTS)
    assert not condition_holds({"any": []}, FACTS)


def test_a_list_of_conditions_holds_when_each_does():
    assert conditions_hold([], FACTS)
    assert conditions_hold([cond("case.status", "eq", "open")], FACTS)
    assert not conditions_hold(
        [cond("case.status", "eq", "open"), cond("case.custom.rooms", "gt", 5)], FACTS
    )


def test_descriptions():
    assert describe(cond("case.status", "eq", "open")) == "case.status eq 'open'"
    group = {"any": [cond("a", "gt", 1), {"all": [cond("b", "changed")]}]}
    assert describe(group) == "any(a gt 1; all(b changed None))"


def test_the_first_holding_cancel_condition_is_named():
    conditions = [
        cond("case.status", "eq", "closed"),
        cond("case.custom.rooms", "gt", 1),
        cond("case.status", "eq", "open"),
    ]
    assert first_holding(conditions, FACTS) == "case.custom.rooms gt 1"
    assert first_holding(conditions[:1], FACTS) is None


def test_a_dry_run_names_the_failing_conditions():
    conditions = [cond("case.status", "eq", "open"), cond("case.custom.rooms", "lt", 3)]
    assert failing(conditions, FACTS) == ["case.custom.rooms lt 3"]


def test_resolving_dotted_paths():
    assert resolve("case.custom.ward", FACTS) == "North"
    assert resolve("case.custom", FACTS) == CASE["custom"]
    assert resolve("case.custom.floor", FACTS) is MISSING
    assert resolve("case.status.name", FACTS) is MISSING  # through a non-dict
