"""Who may see which submissions (the staff list, retries).

Admins and tokens with ``configure`` or ``intake`` see every submission, also those with no
case yet (received, rejected). Other tokens see a submission once it has its case, by the
case visibility rule (``casestream.visibility``) over intake-svc's read model of cases
(``tables.cases``, each case's newest state from case.events): a ``cases:<instance>:all``
token those whose case is in one of its instances, an ``own`` token those whose case is
assigned to or was opened by its user. A submission whose case the read model does not know
yet is seen only by those who see everything, as in every service."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.http.auth import StaffUser
from casestream.persistence.read_models import case_columns
from casestream.visibility import on_visible_case
from intake_svc.tables import cases, submissions

SEES_ALL = ("configure", "intake")  # besides admin


def _sees_all(staff: StaffUser) -> bool:
    return any(staff.may(right) for right in SEES_ALL)


def visible_submissions(staff: StaffUser) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``submissions``."""
    if _sees_all(staff):
        return sa.true()
    # No case yet (case_id NULL): NULL IN (...) holds for no row.
    return on_visible_case(staff, submissions.c.case_id, case_columns(cases))


async def may_see_submission(
    session: AsyncConnection, staff: StaffUser, submission_id: uuid.UUID
) -> bool:
    found = await session.execute(
        sa.select(submissions.c.id).where(
            submissions.c.id == submission_id, visible_submissions(staff)
        )
    )
    return found.first() is not None
