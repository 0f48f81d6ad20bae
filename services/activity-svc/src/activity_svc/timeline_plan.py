"""Planning the activities of an activity set (pure: no I/O).

A step's ``reference`` says what its ``offset_days`` (negative allowed) count from:

- ``case_start``: the case's start date;
- ``<type>`` or ``newest:<type>``: the date of the newest activity of that type on the case
  (already recorded, or planned earlier in the same application);
- ``oldest:<type>``: the date of the oldest such activity.

An activity's date is when it happened, else when it is due; cancelled ones do not count.
With no such activity the case start is used. In a sequence, a ``<type>`` / ``newest:<type>``
reference to the type of the step before means that step's own activity: the next one counts
from its completion. Scheduled activities fall due at ``DUE_TIME`` on the computed day; a
step whose status is ``completed`` is recorded as having happened at the application.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from casestream.contracts.case import ActivitySet, TimelineActivity

DUE_TIME = time(9, 0, tzinfo=UTC)
CASE_START = "case_start"
NEWEST, OLDEST = "newest", "oldest"


@dataclass(frozen=True)
class Dated:
    """An activity of the case as a reference point: its type and its date."""

    type: str
    at: datetime


@dataclass(frozen=True)
class PlannedActivity:
    index: int
    source: str
    type: str
    subject: str | None
    status: str
    due_at: datetime | None
    occurred_at: datetime | None


def step_source(application_id: object, index: int) -> str:
    """Unique per application and step, so a repeat of the same application records nothing."""
    return f"timeline:{application_id}:{index}"


def parse_reference(reference: str) -> tuple[str, str | None]:
    """("case_start", None), ("newest", type) or ("oldest", type)."""
    if reference == CASE_START:
        return CASE_START, None
    kind, sep, activity_type = reference.partition(":")
    if sep and kind in (NEWEST, OLDEST) and activity_type:
        return kind, activity_type
    return NEWEST, reference


def reference_date(
    step: TimelineActivity,
    start_date: date,
    known: Sequence[Dated],
    previous: Dated | None = None,
) -> date:
    kind, activity_type = parse_reference(step.reference)
    if kind == CASE_START:
        return start_date
    if previous is not None and kind == NEWEST and previous.type == activity_type:
        return previous.at.astimezone(UTC).date()
    dates = [a.at for a in known if a.type == activity_type]
    if not dates:
        return start_date
    chosen = max(dates) if kind == NEWEST else min(dates)
    return chosen.astimezone(UTC).date()


def due_at(start: date, offset_days: int) -> datetime:
    return datetime.combine(start + timedelta(days=offset_days), DUE_TIME)


def plan_steps(
    activity_set: ActivitySet,
    *,
    application_id: object,
    start_date: date,
    happened_at: datetime,
    known: Sequence[Dated] = (),
    first: int = 0,
    previous: Dated | None = None,
) -> list[PlannedActivity]:
    """The steps of ``activity_set`` from ``first`` on, in order. A sequence stops after its
    first scheduled step (the completed ones before it happen at once)."""
    planned: list[PlannedActivity] = []
    known = list(known)
    for index in range(first, len(activity_set.activities)):
        step = activity_set.activities[index]
        if step.status == "completed":
            due, occurred = None, happened_at
        else:
            due = due_at(reference_date(step, start_date, known, previous), step.offset_days)
            occurred = None
        planned.append(
            PlannedActivity(
                index,
                step_source(application_id, index),
                step.type,
                step.subject,
                step.status,
                due,
                occurred,
            )
        )
        at = occurred or due
        known.append(Dated(step.type, at))
        previous = Dated(step.type, at) if activity_set.sequence else None
        if activity_set.sequence and step.status != "completed":
            break
    return planned
