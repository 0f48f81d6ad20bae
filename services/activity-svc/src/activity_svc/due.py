""" "What is due": ``GET /activities`` filtered, ordered by due time then id, keyset-paginated,
only what the caller may see.

With an assignee the scan runs on ``activity_assignees`` (assignee, due_time, id), partial on
status 'scheduled' for open work; without one on ``activities`` (due_time, id). Either way the
index gives the order, so a page costs about ``limit`` index entries however long the
history is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from activity_svc.permissions import visible_activities
from activity_svc.tables import activities, activity_assignees, activity_types, due_time
from casestream.http.auth import StaffUser
from casestream.http.pagination import keyset

# An activity with the label of its type.
ACTIVITY_COLUMNS = [*activities.c, activity_types.c.label.label("type_label")]
ACTIVITY_FROM = activities.outerjoin(activity_types, activity_types.c.name == activities.c.type)
# A literal, not a parameter: the planner matches it to the partial indexes' predicate.
SCHEDULED = sa.literal_column("'scheduled'")


@dataclass(frozen=True)
class DueFilters:
    assignee: str | None = None  # a user id ("me" already resolved)
    status: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool = False
    type: str | None = None
    case_id: uuid.UUID | None = None


def due_query(
    staff: StaffUser, filters: DueFilters, cursor: str | None, limit: int
) -> sa.Select[Any]:
    """Up to ``limit + 1`` rows (to tell whether there is a next page), each with
    ``sort_at``: the first half of its cursor."""
    if filters.assignee is not None:
        assigned = activity_assignees.c
        source = ACTIVITY_FROM.join(activity_assignees, assigned.activity_id == activities.c.id)
        order = [assigned.due_time, assigned.activity_id]
        status, due_at = assigned.status, assigned.due_at
        conditions = [assigned.assignee == filters.assignee]
    else:
        source = ACTIVITY_FROM
        order = [due_time, activities.c.id]
        status, due_at = activities.c.status, activities.c.due_at
        conditions = []
    sort_at = order[0]
    if filters.status is not None:
        value = SCHEDULED if filters.status == "scheduled" else sa.literal(filters.status)
        conditions.append(status == value)
    before = [filters.due_before] if filters.due_before else []
    if filters.overdue:
        conditions.append(status == SCHEDULED)
        before.append(datetime.now(UTC))
    if before:
        # due_at bounds the order key too (for a dated activity they are equal): the range
        # then limits the index scan, not only a filter after it.
        conditions += [due_at < min(before), sort_at < min(before)]
    if filters.due_after is not None:
        # What is coming up (the mirror of overdue): the index scan starts there.
        conditions += [due_at >= filters.due_after, sort_at >= filters.due_after]
    if filters.type is not None:
        conditions.append(activities.c.type == filters.type)
    if filters.case_id is not None:
        conditions.append(activities.c.case_id == filters.case_id)
    return (
        sa.select(*ACTIVITY_COLUMNS, sort_at.label("sort_at"))
        .select_from(source)
        .where(*conditions, visible_activities(staff), keyset(order, cursor))
        .order_by(*order)
        .limit(limit + 1)
    )


def cursor_of(row: Any) -> list[str]:
    return [row.sort_at.isoformat(), str(row.id)]
