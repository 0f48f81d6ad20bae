"""Who may see which submissions (the staff list, retries).

Admins and tokens with ``configure`` or ``intake`` see every submission, also those with no
case yet (received, rejected). Other tokens see a submission once it has its case, by the
case visibility rule (``casestream.visibility``) over what intake-svc knows of that case: its
instance (the form's case type's, as case-svc announced it). intake-svc keeps no read model
of cases, so it cannot know a case's assignee: an ``own`` token sees none (a case opened from
a web form is never opened by a staff user), an ``all`` token those of its instances."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.http.auth import StaffUser
from casestream.visibility import on_visible_case
from intake_svc.tables import case_types, forms, submissions

SEES_ALL = ("configure", "intake")  # besides admin


def _sees_all(staff: StaffUser) -> bool:
    return any(staff.may(right) for right in SEES_ALL)


# Each submission that has its case, with what visible_cases filters on.
submission_cases = (
    sa.select(
        submissions.c.id,
        case_types.c.instance,
        sa.null().cast(sa.Text).label("assignee"),
        sa.null().cast(sa.Text).label("created_by"),
    )
    .select_from(
        submissions.join(forms, forms.c.slug == submissions.c.form).join(
            case_types, case_types.c.name == forms.c.case_type
        )
    )
    .where(submissions.c.case_id.is_not(None))
    .subquery("submission_cases")
)


def visible_submissions(staff: StaffUser) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``submissions``."""
    if _sees_all(staff):
        return sa.true()
    return on_visible_case(staff, submissions.c.id, submission_cases)


async def may_see_submission(
    session: AsyncConnection, staff: StaffUser, submission_id: uuid.UUID
) -> bool:
    found = await session.execute(
        sa.select(submissions.c.id).where(
            submissions.c.id == submission_id, visible_submissions(staff)
        )
    )
    return found.first() is not None
