"""intake-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document but the public form pages and posts; forms need ``configure`` to change,
submissions follow ``intake_svc.submission_rights``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from casestream.settings import StaffToken
from casestream.testing import rights_matrix as rights
from intake_svc.tables import submissions

# The public door: anyone may see a form, post it and follow their submission.
PUBLIC_FORMS = rights.PUBLIC | {
    ("GET", "/f/{slug}"),
    ("POST", "/f/{slug}"),
    ("GET", "/f/{slug}/thanks"),
    ("GET", "/f/{slug}/submissions/{submission_id}"),
}


async def _submission(intake: Any, slug: str, case_id: uuid.UUID | None, status: str) -> str:
    submission_id, now = uuid.uuid4(), datetime.now(UTC)
    async with intake.database.transaction() as tx:
        await tx.session.execute(
            submissions.insert().values(
                id=submission_id,
                form=slug,
                status=status,
                values={},
                case_id=case_id,
                received_at=now,
                updated_at=now,
            )
        )
    return str(submission_id)


async def test_every_staff_operation_asks_for_its_rights(intake):
    slug = f"rights-{uuid.uuid4().hex[:8]}"
    await intake.put_form(slug)  # general_enquiry: instance "cases"
    opened = await _submission(intake, slug, uuid.uuid4(), "case_opened")
    rejected = await _submission(intake, slug, None, "rejected")
    with rights.matrix_tokens(intake.settings) as tokens:
        needs = {
            ("PUT", "/forms/{slug}"): rights.CONFIGURE,
            ("GET", "/forms"): rights.STAFF,
            ("GET", "/forms/{slug}"): rights.STAFF,
            ("GET", "/submissions"): rights.Need(lists=True),
            ("POST", "/submissions/{submission_id}/retry"): rights.Need(
                outside=rights.Call(path={"submission_id": rejected})
            ),
        }
        assert await rights.failures(intake.client, intake.app, needs, tokens, PUBLIC_FORMS) == []

        mine = {"form": slug}
        # An own token: intake-svc cannot tell a case's assignee, so none are its own.
        assert await rights.listed(intake.client, "/submissions", tokens.own, mine) == set()
        assert await rights.listed(intake.client, "/submissions", tokens.nobody, mine) == set()
        # configure (and admins) see them all, also the rejected one without a case.
        both = {opened, rejected}
        assert await rights.listed(intake.client, "/submissions", tokens.configure, mine) == both
        assert await rights.listed(intake.client, "/submissions", tokens.admin, mine) == both
        # An "all" token on the form's instance: the submissions that have their case.
        extra = {
            "matrix-cases-all": StaffToken(user="matrix-all", rights=["cases:cases:all"]),
            "matrix-other-all": StaffToken(user="matrix-other", rights=["cases:other:all"]),
        }
        intake.settings.staff_tokens.update(extra)
        try:
            every = {"Authorization": "Bearer matrix-cases-all"}
            other = {"Authorization": "Bearer matrix-other-all"}
            assert await rights.listed(intake.client, "/submissions", every, mine) == {opened}
            assert await rights.listed(intake.client, "/submissions", other, mine) == set()
            retry = await intake.client.post(f"/submissions/{rejected}/retry", headers=every)
            assert retry.status_code == 403
        finally:
            for token in extra:
                intake.settings.staff_tokens.pop(token)
