"""Planning an activity set's dates, on plain values: no database, no broker (no fixtures)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from activity_svc.timeline_plan import (
    Dated,
    PlannedActivity,
    due_at,
    parse_reference,
    plan_steps,
    reference_date,
    step_source,
)
from casestream.contracts.case import ActivitySet, TimelineActivity

START = date(2024, 3, 1)
APPLIED = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
CALLS = [
    Dated("call", datetime(2024, 2, 10, 12, 0, tzinfo=UTC)),
    Dated("visit", datetime(2024, 2, 20, 12, 0, tzinfo=UTC)),
    Dated("call", datetime(2024, 2, 15, 12, 0, tzinfo=UTC)),
]


def step(type_: str, offset: int = 0, reference: str = "case_start", status: str = "scheduled"):
    return TimelineActivity(type=type_, offset_days=offset, reference=reference, status=status)


def nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def plan(*steps: TimelineActivity, sequence: bool = False, **kwargs) -> list[PlannedActivity]:
    activity_set = ActivitySet(name="s", label="S", sequence=sequence, activities=list(steps))
    kwargs.setdefault("start_date", START)
    kwargs.setdefault("happened_at", APPLIED)
    return plan_steps(activity_set, application_id="app-1", **kwargs)


# References


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("case_start", ("case_start", None)),
        ("call", ("newest", "call")),
        ("newest:call", ("newest", "call")),
        ("oldest:call", ("oldest", "call")),
        # Not a kind the rules know: the whole text is taken as a type name.
        ("latest:call", ("newest", "latest:call")),
        ("oldest:", ("newest", "oldest:")),
    ],
)
def test_parse_reference(reference, parsed):
    assert parse_reference(reference) == parsed


def test_case_start_reference_ignores_known_activities():
    assert reference_date(step("call"), START, CALLS) == START


def test_newest_and_oldest_activity_of_a_type():
    assert reference_date(step("x", reference="call"), START, CALLS) == date(2024, 2, 15)
    assert reference_date(step("x", reference="newest:call"), START, CALLS) == date(2024, 2, 15)
    assert reference_date(step("x", reference="oldest:call"), START, CALLS) == date(2024, 2, 10)


def test_no_activity_of_the_type_counts_from_the_case_start():
    assert reference_date(step("x", reference="newest:meeting"), START, CALLS) == START


def test_an_activity_date_is_its_utc_day():
    # 23:30 in New York on 1 March is 04:30 UTC on 2 March.
    late = Dated("call", datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))))
    assert reference_date(step("x", reference="call"), START, [late]) == date(2024, 3, 2)


def test_in_a_sequence_the_step_before_counts_not_the_newest_of_its_type():
    previous = Dated("call", datetime(2024, 2, 1, 10, 0, tzinfo=UTC))
    newest = step("x", reference="call")
    assert reference_date(newest, START, CALLS, previous) == date(2024, 2, 1)
    # "oldest" still means the oldest recorded one, and another type is unaffected.
    oldest = step("x", reference="oldest:call")
    assert reference_date(oldest, START, CALLS, previous) == date(2024, 2, 10)
    assert reference_date(step("x", reference="visit"), START, CALLS, previous) == date(2024, 2, 20)


def test_due_at_nine_utc_on_the_offset_day():
    assert due_at(START, 7) == datetime(2024, 3, 8, 9, 0, tzinfo=UTC)
    assert due_at(START, 0) == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    # Negative offsets go back, across a month end (2024 is a leap year).
    assert due_at(START, -1) == datetime(2024, 2, 29, 9, 0, tzinfo=UTC)


def test_step_source_is_per_application_and_step():
    assert step_source("app-1", 2) == "timeline:app-1:2"
    assert step_source("app-1", 2) != step_source("app-2", 2)


# Whole sets


def test_a_set_plans_every_step_in_order():
    planned = plan(step("open_case", status="completed"), step("call", 7), step("visit", -3))
    assert [(p.index, p.source, p.type, p.status) for p in planned] == [
        (0, "timeline:app-1:0", "open_case", "completed"),
        (1, "timeline:app-1:1", "call", "scheduled"),
        (2, "timeline:app-1:2", "visit", "scheduled"),
    ]
    completed, call, visit = planned
    assert (completed.occurred_at, completed.due_at) == (APPLIED, None)
    assert (call.occurred_at, call.due_at) == (None, nine(date(2024, 3, 8)))
    assert visit.due_at == nine(date(2024, 2, 27))


def test_a_step_counts_from_one_planned_earlier_in_the_same_application():
    planned = plan(step("call", 10), step("review", 2, reference="call"))
    assert planned[1].due_at == nine(date(2024, 3, 13))


def test_a_planned_step_outdates_a_recorded_one_as_the_newest():
    planned = plan(step("call", 10), step("review", 1, reference="call"), known=CALLS)
    assert planned[1].due_at == nine(date(2024, 3, 12))
    oldest = plan(step("call", 10), step("review", 1, reference="oldest:call"), known=CALLS)
    assert oldest[1].due_at == nine(date(2024, 2, 11))


def test_a_completed_step_counts_from_when_it_was_applied():
    planned = plan(step("intake", status="completed"), step("call", 1, reference="intake"))
    assert planned[1].due_at == nine(date(2024, 3, 6))


def test_a_sequence_stops_after_its_first_scheduled_step():
    planned = plan(
        step("open_case", status="completed"),
        step("assess", status="completed"),
        step("call", 2, reference="assess"),
        step("visit", 5, reference="call"),
        sequence=True,
    )
    assert [p.type for p in planned] == ["open_case", "assess", "call"]
    assert planned[2].due_at == nine(date(2024, 3, 7))


def test_a_sequence_resumes_from_the_step_after_the_completed_one():
    completed_call = Dated("call", datetime(2024, 3, 20, 16, 0, tzinfo=UTC))
    planned = plan(
        step("call", 2),
        step("visit", 5, reference="call"),
        step("close", 1, reference="visit"),
        sequence=True,
        first=1,
        previous=completed_call,
        known=CALLS,
    )
    assert [(p.index, p.type) for p in planned] == [(1, "visit")]
    assert planned[0].due_at == nine(date(2024, 3, 25))


def test_outside_a_sequence_the_step_before_is_only_one_of_its_type():
    # Not a sequence: "previous" is forgotten after the first step, the newest counts.
    earlier = Dated("call", datetime(2024, 1, 1, 9, 0, tzinfo=UTC))
    planned = plan(
        step("note"),
        step("review", 0, reference="call"),
        known=CALLS,
        previous=earlier,
    )
    assert planned[1].due_at == nine(date(2024, 2, 15))


def test_starting_past_the_last_step_plans_nothing():
    assert plan(step("call"), first=1) == []
