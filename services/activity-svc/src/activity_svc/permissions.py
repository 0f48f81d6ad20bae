"""Who may see which activities. An activity of a case follows its case's visibility
(case-svc's rule: the token's access to the case's instance is "all", or "own" and the case
is assigned to the user or was opened by them). An activity on no case is seen by its
assignees, its creator and admins. A case this service has not heard of yet is seen by
admins only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from activity_svc.cases import cases
from activity_svc.tables import activities, activity_assignees
from casestream import visibility
from casestream.commands import forbidden
from casestream.http.auth import StaffUser


def is_admin(staff: StaffUser) -> bool:
    return "admin" in staff.rights


def may_see_case(staff: StaffUser, case: Any) -> bool:
    if is_admin(staff):
        return True
    return case is not None and visibility.may_see_case(staff, case)


def may_see_activity(staff: StaffUser, activity: Any, case: Any) -> bool:
    if activity.case_id is not None:
        return may_see_case(staff, case)
    return is_admin(staff) or staff.user in (activity.created_by, *activity.assignee_ids)


def ensure_can_see_case(staff: StaffUser, case: Any) -> None:
    if not may_see_case(staff, case):
        raise forbidden("this case is outside the token's rights")


def ensure_can_see_activity(staff: StaffUser, activity: Any, case: Any) -> None:
    if not may_see_activity(staff, activity, case):
        raise forbidden("this activity is outside the token's rights")


def visible_activities(staff: StaffUser) -> sa.ColumnElement[bool]:
    """The same rule as a WHERE clause on ``activities``, for lists."""
    if is_admin(staff):
        return sa.true()
    on_visible_case = sa.exists().where(
        cases.c.id == activities.c.case_id, visibility.visible_cases(staff, cases)
    )
    # An alias: the list may already scan activity_assignees (assignee=...).
    assigned = activity_assignees.alias("assigned")
    mine = sa.exists().where(
        assigned.c.activity_id == activities.c.id, assigned.c.assignee == staff.user
    )
    off_case = sa.and_(
        activities.c.case_id.is_(None), sa.or_(activities.c.created_by == staff.user, mine)
    )
    return sa.or_(on_visible_case, off_case)
