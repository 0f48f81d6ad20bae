"""Who may do what with cases.

A token's rights (settings ``STAFF_TOKENS``) are strings:

- ``admin``: everything.
- ``configure``: administer instances, statuses and case types (``casestream.http.auth.
  Configurer``, as every service's configuration).
- ``cases:<instance>:all``: see and work on every case of that instance (``*`` = every
  instance); ``cases:<instance>:own``: only the cases assigned to the user or opened by them.
- ``add_cases``: open cases (in the instances the token can see).
- ``delete_cases``: merge cases away (the destructive action).

Lists and counts filter with ``visible_cases``; a single case outside the caller's rights is
403 (``ensure_can_see``).
"""

from typing import Any

import sqlalchemy as sa

from case_svc.tables import cases, instances
from casestream import visibility
from casestream.commands import forbidden
from casestream.http.auth import StaffUser


def access_to(staff: StaffUser, instance: str) -> str | None:
    return staff.access_to(instance)


def visible_cases(staff: StaffUser) -> sa.ColumnElement[bool]:
    """The cases the caller may see in lists and counts: in an enabled instance, and visible
    to the caller (``casestream.visibility``)."""
    enabled = cases.c.instance.in_(sa.select(instances.c.name).where(instances.c.enabled))
    return sa.and_(enabled, visibility.visible_cases(staff, cases))


def ensure_can_see(staff: StaffUser, case: Any) -> None:
    if not visibility.may_see_case(staff, case):
        raise forbidden("this case is outside the token's rights")


def ensure_can_add(staff: StaffUser, instance: str) -> None:
    if not (staff.may("add_cases") and access_to(staff, instance)):
        raise forbidden(f"this token may not open cases in {instance!r}")


def ensure_can_delete(staff: StaffUser) -> None:
    if not staff.may("delete_cases"):
        raise forbidden("this token may not merge or delete cases")
