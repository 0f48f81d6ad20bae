"""A submission whose outcome never comes (its message, or the answer, was lost on the way) is
announced again, as a message of its own, until an outcome comes; then no more."""

from __future__ import annotations

import uuid

from casestream import topics
from casestream.testing.harness import body, service_fixture
from casestream.testing.plugin import eventually
from intake_svc.config import Settings
from intake_svc.main import create_app

from .conftest import FORM_SECRET, MIGRATIONS, Intake, contact_form
from .test_intake_tracking import outcome, settled, submit

# Announced again one second after the last announcement when no outcome has come.
redriving = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    harness=Intake,
    name="intake",
    scope="module",
    ready=Intake.learn_case_types,
    form_secret=FORM_SECRET,
    form_min_seconds=0,
    redrive_after_s=1.0,
    redrive_interval_s=0.2,
)


async def announcements(intake: Intake, submission_id: str) -> list[dict]:
    return [body(r) for r in await intake.messages_about(submission_id)]


async def test_a_submission_nobody_answered_is_announced_again_until_its_outcome_comes(redriving):
    slug = f"redrive-{uuid.uuid4().hex[:6]}"
    await redriving.put_form(slug, contact_form())
    unanswered = await submit(redriving, slug)

    # Nothing answers here (no case-svc): the first announcement, then again, and again.
    said = await eventually(lambda: _at_least(redriving, unanswered, 3), timeout_s=20)
    assert len({m["id"] for m in said}) == len(said)  # each a message of its own
    assert {(m["data"]["submission_id"], m["data"]["attempt"]) for m in said} == {(unanswered, 1)}

    # The outcome comes (case-svc answers the first it handles): announcements stop.
    await redriving.deliver(
        topics.CASE_SUBMISSION_OUTCOMES,
        outcome(
            unanswered, slug, outcome="case_opened", case_id=uuid.uuid4(), contact_id=uuid.uuid4()
        ),
    )
    await settled(redriving, slug, unanswered, "case_opened")
    so_far = len(await announcements(redriving, unanswered))
    # A marker: a later submission announced again proves the re-driver has looked since.
    marker = await submit(redriving, slug, email="marker@example.org")
    await eventually(lambda: _at_least(redriving, marker, 2), timeout_s=20)
    assert len(await announcements(redriving, unanswered)) == so_far


async def _at_least(intake: Intake, submission_id: str, n: int) -> list[dict] | None:
    said = await announcements(intake, submission_id)
    return said if len(said) >= n else None
