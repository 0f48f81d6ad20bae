"""Which cases a staff user may see, the one rule every service applies to cases and to what
hangs off them: all cases of an instance where the token's rights say ``all``, or the ones
assigned to or opened by the user where they say ``own`` (``StaffUser.access_to``). Once
over a case in hand, once as SQL over a table with the case's columns (``instance``,
``assignee``, ``created_by``), so lists and single reads never disagree."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.http.auth import StaffUser


def is_admin(staff: StaffUser) -> bool:
    return "admin" in staff.rights


def may_see_case(staff: StaffUser, case: Any) -> bool:
    """``case``: anything with ``instance``, ``assignee`` and ``created_by``."""
    access = staff.access_to(case.instance)
    return access == "all" or (access == "own" and staff.user in (case.assignee, case.created_by))


def visible_cases(staff: StaffUser, table: sa.FromClause) -> sa.ColumnElement[bool]:
    """``may_see_case`` as a WHERE clause on ``table``'s rows."""
    if "admin" in staff.rights:
        return sa.true()
    own = sa.or_(table.c.assignee == staff.user, table.c.created_by == staff.user)
    granted = []
    for instance, scope in staff.granted_instances():
        in_instance = sa.true() if instance == "*" else table.c.instance == instance
        granted.append(sa.and_(in_instance, own) if scope == "own" else in_instance)
    return sa.or_(*granted) if granted else sa.false()


def on_visible_case(
    staff: StaffUser, case_id: sa.ColumnElement[Any], cases: sa.FromClause
) -> sa.ColumnElement[bool]:
    """A WHERE clause: ``case_id`` (a column of what hangs off cases) names a case of
    ``cases`` (with ``id``, ``instance``, ``assignee``, ``created_by``) the staff user may
    see. Admins see everything, also what is on no case or on a case not known yet."""
    if is_admin(staff):
        return sa.true()
    return case_id.in_(sa.select(cases.c.id).where(visible_cases(staff, cases)))


async def may_see_case_id(
    session: AsyncConnection, staff: StaffUser, case_id: Any, cases: sa.FromClause
) -> bool:
    """``on_visible_case`` for one case id (None: no case), read from ``cases``."""
    if is_admin(staff):
        return True
    if case_id is None:
        return False
    found = await session.execute(
        sa.select(cases.c.id).where(cases.c.id == case_id, visible_cases(staff, cases))
    )
    return found.first() is not None
