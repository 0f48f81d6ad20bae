"""intake-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document but the public form pages and posts; forms need ``configure`` to change,
submissions follow ``intake_svc.submission_rights``: their case's visibility, over the read
model of cases intake-svc keeps from case.events."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from casestream import topics
from casestream.contracts.case import CASE_ASSIGNED, CASE_OPENED, CaseState
from casestream.settings import StaffToken
from casestream.testing import rights_matrix as rights
from casestream.testing.factories import case_event, case_state
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS
from intake_svc.tables import cases, submissions

from .test_intake_tracking import outcome, settled, submit

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


async def _known_case(
    intake: Any, type: str = CASE_OPENED, key: str | None = None, **state: Any
) -> CaseState:
    """Say on case.events what case-svc would of a case (keyed by its id, or ``key``), and
    wait until intake-svc's read model holds that version of it."""
    case = case_state(**state)
    await intake.deliver(topics.CASE_EVENTS, case_event(case, type=type), key=key)

    async def kept() -> bool:
        async with intake.database.session() as session:
            version = await session.scalar(sa.select(cases.c.version).where(cases.c.id == case.id))
        return version == case.version

    await eventually(kept, timeout_s=30)
    return case


@contextlib.contextmanager
def extra_tokens(intake: Any, **rights_of: list[str]) -> Iterator[dict[str, dict[str, str]]]:
    """A token per name with those rights, known to the running app for the duration: the
    headers of each. Its user (and token) is the name and a fresh suffix: ``user_of``."""
    suffix = uuid.uuid4().hex[:8]
    added = {
        f"{name}-{suffix}": StaffToken(user=f"{name}-{suffix}", rights=granted)
        for name, granted in rights_of.items()
    }
    intake.settings.staff_tokens.update(added)
    try:
        yield {name: {"Authorization": f"Bearer {name}-{suffix}"} for name in rights_of}
    finally:
        for token in added:
            intake.settings.staff_tokens.pop(token, None)


def user_of(headers: dict[str, str]) -> str:
    """The user of an ``extra_tokens`` token (its user is its token)."""
    return headers["Authorization"].removeprefix("Bearer ")


async def test_every_staff_operation_asks_for_its_rights(intake):
    slug = f"rights-{uuid.uuid4().hex[:8]}"
    await intake.put_form(slug)  # general_enquiry: instance "cases"
    rejected = await _submission(intake, slug, None, "rejected")
    with rights.matrix_tokens(intake.settings) as tokens:
        # Cases as case-svc announced them: assigned to the own user, opened by them,
        # another's, the own user's in another instance; and one not told of yet.
        mine = await _known_case(intake, assignee=tokens.own_user)
        opened_by_me = await _known_case(
            intake, assignee="someone-else", created_by=tokens.own_user
        )
        theirs = await _known_case(intake, assignee="someone-else", created_by="someone-else")
        elsewhere = await _known_case(intake, instance="other", assignee=tokens.own_user)
        on_mine = await _submission(intake, slug, mine.id, "case_opened")
        on_opened_by_me = await _submission(intake, slug, opened_by_me.id, "attached")
        on_theirs = await _submission(intake, slug, theirs.id, "attached")
        on_elsewhere = await _submission(intake, slug, elsewhere.id, "case_opened")
        on_unknown = await _submission(intake, slug, uuid.uuid4(), "case_opened")
        needs = {
            ("PUT", "/forms/{slug}"): rights.CONFIGURE,
            ("GET", "/forms"): rights.STAFF,
            ("GET", "/forms/{slug}"): rights.STAFF,
            ("GET", "/submissions"): rights.Need(lists=True),
            ("POST", "/submissions/{submission_id}/retry"): rights.Need(
                outside=rights.Call(path={"submission_id": rejected}),
                # Its own case's submission: past the rights (then 409: not rejected).
                inside=rights.Call(path={"submission_id": on_mine}),
            ),
        }
        assert await rights.failures(intake.client, intake.app, needs, tokens, PUBLIC_FORMS) == []

        form = {"form": slug}
        every = {on_mine, on_opened_by_me, on_theirs, on_elsewhere, on_unknown, rejected}
        # An own token: the submissions on cases assigned to (or opened by) its user, in
        # any instance (cases:*:own); not another's, not one on a case not known yet.
        own = await rights.listed(intake.client, "/submissions", tokens.own, form)
        assert own == {on_mine, on_opened_by_me, on_elsewhere}
        assert await rights.listed(intake.client, "/submissions", tokens.nobody, form) == set()
        # configure (and admins) see them all, also the rejected one without a case.
        assert await rights.listed(intake.client, "/submissions", tokens.configure, form) == every
        assert await rights.listed(intake.client, "/submissions", tokens.admin, form) == every
        theirs_retry = await intake.client.post(
            f"/submissions/{on_theirs}/retry", headers=tokens.own
        )
        assert theirs_retry.status_code == 403

        # An "all" token: the submissions whose case is in its instances (the case's own,
        # not the form's case type's).
        with extra_tokens(
            intake, cases_all=["cases:cases:all"], other_all=["cases:other:all"]
        ) as token:
            cases_all = await rights.listed(intake.client, "/submissions", token["cases_all"], form)
            assert cases_all == {on_mine, on_opened_by_me, on_theirs}
            other_all = await rights.listed(intake.client, "/submissions", token["other_all"], form)
            assert other_all == {on_elsewhere}
            retry = await intake.client.post(
                f"/submissions/{rejected}/retry", headers=token["cases_all"]
            )
            assert retry.status_code == 403


async def test_an_own_token_sees_a_submission_once_its_case_is_assigned_to_it(intake):
    """The whole way: a post, case-svc's outcome (case opened), then the case's events on
    case.events: unassigned, assigned to one own user, then to another."""
    slug = f"own-{uuid.uuid4().hex[:8]}"
    await intake.put_form(slug)
    submission_id = await submit(intake, slug)
    case_id = uuid.uuid4()
    await intake.deliver(
        topics.CASE_SUBMISSION_OUTCOMES,
        outcome(submission_id, slug, outcome="case_opened", case_id=case_id),
    )
    await settled(intake, slug, submission_id, "case_opened")
    with extra_tokens(
        intake, ada=["cases:*:own"], bob=["cases:cases:own"], every=["cases:cases:all"]
    ) as token:
        ada, bob, every = token["ada"], token["bob"], token["every"]

        async def seen_by(headers: dict[str, str]) -> set[str]:
            return await rights.listed(intake.client, "/submissions", headers, {"form": slug})

        # Not heard of on case.events yet: only those who see everything see it.
        assert await seen_by(ada) == set()
        assert await seen_by(every) == set()
        assert await seen_by(STAFF_HEADERS) == {submission_id}

        # Opened from a web form: no staff user opened it, nobody is assigned.
        await _known_case(intake, id=case_id)
        assert await seen_by(ada) == set()
        assert await seen_by(bob) == set()
        assert await seen_by(every) == {submission_id}

        await _known_case(intake, CASE_ASSIGNED, id=case_id, version=2, assignee=user_of(ada))
        assert await seen_by(ada) == {submission_id}
        assert await seen_by(bob) == set()
        assert await seen_by(every) == {submission_id}

        # The newest state counts: handed on to bob, ada no longer sees it.
        await _known_case(intake, CASE_ASSIGNED, id=case_id, version=3, assignee=user_of(bob))
        assert await seen_by(ada) == set()
        assert await seen_by(bob) == {submission_id}

        # An older event arriving late (then a marker on its partition) changes nothing.
        late = case_state(id=case_id, version=2, assignee=user_of(ada))
        await intake.deliver(topics.CASE_EVENTS, case_event(late, type=CASE_ASSIGNED))
        await _known_case(intake, key=str(case_id))
        assert await seen_by(ada) == set()
        assert await seen_by(bob) == {submission_id}
