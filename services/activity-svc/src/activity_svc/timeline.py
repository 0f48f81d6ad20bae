"""Planning a case's timeline from its case type's activity set (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from casestream.contracts.case import ActivitySet, CaseState

# Scheduled timeline activities fall due at the start of the working day.
DUE_TIME = time(9, 0, tzinfo=UTC)
CASE_START = "case_start"


@dataclass(frozen=True)
class PlannedActivity:
    source: str
    type: str
    subject: str | None
    status: str
    due_at: datetime | None
    occurred_at: datetime | None


def timeline_source(case_id: object, set_name: str, index: int) -> str:
    return f"timeline:{case_id}:{set_name}:{index}"


def plan_timeline(case: CaseState, activity_set: ActivitySet) -> list[PlannedActivity]:
    """The activities of ``activity_set`` for ``case``, in order. A completed one happened when
    the case was created; a scheduled one is due ``offset_days`` after the case start, or after
    the date of the nearest earlier activity of the type its ``reference`` names."""
    planned: list[PlannedActivity] = []
    for index, step in enumerate(activity_set.activities):
        source = timeline_source(case.id, activity_set.name, index)
        if step.status == "completed":
            due_at, occurred_at = None, case.created_at
        else:
            start = _reference_date(case, planned, step.reference)
            due_at, occurred_at = _due(start, step.offset_days), None
        planned.append(
            PlannedActivity(source, step.type, step.subject, step.status, due_at, occurred_at)
        )
    return planned


def _reference_date(case: CaseState, earlier: list[PlannedActivity], reference: str) -> date:
    if reference != CASE_START:
        for activity in reversed(earlier):
            when = activity.occurred_at or activity.due_at
            if activity.type == reference and when is not None:
                return when.astimezone(UTC).date()
    # The case start, also when the referenced type is not earlier in the set.
    return case.start_date


def _due(start: date, offset_days: int) -> datetime:
    return datetime.combine(start + timedelta(days=offset_days), DUE_TIME)
