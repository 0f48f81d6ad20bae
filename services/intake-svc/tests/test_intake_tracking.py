"""Following submissions: case-svc's outcomes on case.submission_outcomes set each one's status;
staff list them by status and outcome and retry rejected ones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from casestream import topics
from casestream.contracts.case import SUBMISSION_OUTCOME, SubmissionOutcome
from casestream.envelope import Envelope, new_envelope
from casestream.persistence.tables import inbox
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

from .conftest import contact_form

FORM_VALUES = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "email": "grace@example.org",
    "subject": "A bug",
}


def outcome(submission_id: str, form: str, **fields: Any) -> Envelope[Any]:
    return new_envelope(
        type=SUBMISSION_OUTCOME,
        source="case-svc",
        subject=submission_id,
        data=SubmissionOutcome(submission_id=uuid.UUID(submission_id), form=form, **fields),
    )


async def submit(intake, slug: str, **changes: Any) -> str:
    response = await intake.post_json(slug, {**FORM_VALUES, **changes})
    assert response.status_code == 202, response.text
    return response.json()["submission_id"]


async def public_status(intake, slug: str, submission_id: str) -> dict[str, Any]:
    return (await intake.client.get(f"/f/{slug}/submissions/{submission_id}")).json()


async def staff_view(intake, submission_id: str) -> dict[str, Any]:
    async with intake.database.session() as session:
        form = await session.scalar(
            sa.text("SELECT form FROM submissions WHERE id = :id"), {"id": submission_id}
        )
    listed = await intake.client.get(
        "/submissions", params={"form": form, "limit": 500}, headers=STAFF_HEADERS
    )
    [found] = [s for s in listed.json()["items"] if s["id"] == submission_id]
    return found


async def settled(intake, slug: str, submission_id: str, status: str) -> dict[str, Any]:
    async def reached():
        state = await public_status(intake, slug, submission_id)
        return state if state["status"] == status else None

    return await eventually(reached, timeout_s=20)


async def test_each_outcome_sets_the_status_once(intake):
    await intake.put_form("outcomes")
    opened, attached, rejected, marker = [await submit(intake, "outcomes") for _ in range(4)]
    case_id, other_case, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first_opened = outcome(
        opened,
        "outcomes",
        outcome="case_opened",
        case_id=case_id,
        contact_id=contact_id,
        contact="created",
    )
    await intake.publish(
        topics.CASE_SUBMISSION_OUTCOMES,
        [
            first_opened,
            outcome(
                attached,
                "outcomes",
                outcome="attached",
                case_id=other_case,
                contact_id=contact_id,
                contact="matched",
            ),
            outcome(
                rejected,
                "outcomes",
                outcome="rejected",
                reason="case type general_enquiry is inactive",
            ),
        ],
        key="one-partition",
    )

    state = await settled(intake, "outcomes", opened, "case_opened")
    assert state["case_id"] == str(case_id) and state["reason"] is None
    assert "contact_id" not in state  # whether a contact was matched is staff's business
    staff = await staff_view(intake, opened)
    assert staff["contact_id"] == str(contact_id) and staff["contact_outcome"] == "created"

    state = await settled(intake, "outcomes", attached, "attached")
    assert state["case_id"] == str(other_case)
    assert (await staff_view(intake, attached))["contact_outcome"] == "matched"

    state = await settled(intake, "outcomes", rejected, "rejected")
    assert state["reason"] == "case type general_enquiry is inactive"
    assert state["case_id"] is None

    before = await public_status(intake, "outcomes", opened)
    await intake.publish(
        topics.CASE_SUBMISSION_OUTCOMES,
        [
            first_opened,  # the very same message again
            # said again after the fact (another envelope): the first answer stands
            outcome(opened, "outcomes", outcome="rejected", reason="late"),
            # an outcome of an attempt that was never made
            outcome(rejected, "outcomes", attempt=2, outcome="case_opened", case_id=case_id),
            outcome(marker, "outcomes", outcome="case_opened", case_id=uuid.uuid4()),
        ],
        key="one-partition",
    )
    await settled(intake, "outcomes", marker, "case_opened")  # handled after the rest
    assert await public_status(intake, "outcomes", opened) == before  # not even updated_at
    assert (await public_status(intake, "outcomes", rejected))["status"] == "rejected"
    async with intake.database.session() as session:
        claims = await session.scalar(
            sa.select(sa.func.count())
            .select_from(inbox)
            .where(inbox.c.message_id == first_opened.id)
        )
    assert claims == 1


async def test_the_status_of_an_unknown_submission_is_not_found(intake):
    await intake.put_form("tracked")
    assert (await intake.client.get(f"/f/tracked/submissions/{uuid.uuid4()}")).status_code == 404
    theirs = await submit(intake, "tracked")
    assert (await intake.client.get(f"/f/other/submissions/{theirs}")).status_code == 404


async def test_staff_list_by_status_and_outcome(intake):
    await intake.put_form("sorting")
    ids = [await submit(intake, "sorting", last_name=f"N{n}") for n in range(5)]
    created, matched, matched_too, rejected, waiting = ids
    await intake.publish(
        topics.CASE_SUBMISSION_OUTCOMES,
        [
            outcome(
                created, "sorting", outcome="case_opened", case_id=uuid.uuid4(), contact="created"
            ),
            outcome(
                matched, "sorting", outcome="attached", case_id=uuid.uuid4(), contact="matched"
            ),
            outcome(
                matched_too,
                "sorting",
                outcome="case_opened",
                case_id=uuid.uuid4(),
                contact="matched",
            ),
            outcome(rejected, "sorting", outcome="rejected", reason="no"),
        ],
        key="one-partition",
    )
    await settled(intake, "sorting", rejected, "rejected")

    async def listed(**params: Any) -> list[str]:
        seen, cursor = [], None
        while True:
            query = {
                "form": "sorting",
                "limit": 1,
                **params,
                **({"cursor": cursor} if cursor else {}),
            }
            response = await intake.client.get("/submissions", params=query, headers=STAFF_HEADERS)
            assert response.status_code == 200, response.text
            seen += [s["id"] for s in response.json()["items"]]
            if not (cursor := response.json()["next_cursor"]):
                return seen

    assert await listed() == list(reversed(ids))
    assert await listed(status="received") == [waiting]
    assert await listed(status="rejected") == [rejected]
    assert await listed(status="case_opened") == [matched_too, created]
    assert await listed(outcome="matched") == [matched_too, matched]
    assert await listed(status="case_opened", outcome="matched") == [matched_too]
    assert await listed(outcome="created") == [created]
    everywhere = await intake.client.get(
        "/submissions", params={"status": "rejected", "limit": 500}, headers=STAFF_HEADERS
    )
    assert rejected in [s["id"] for s in everywhere.json()["items"]]
    for bad in ({"status": "lost"}, {"outcome": "guessed"}):
        response = await intake.client.get("/submissions", params=bad, headers=STAFF_HEADERS)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


async def test_a_rejected_submission_is_retried_with_the_next_attempt(intake):
    await intake.put_form("retry")
    submission_id = await submit(intake, "retry", subject="Broken link")
    await intake.publish(
        topics.CASE_SUBMISSION_OUTCOMES,
        [outcome(submission_id, "retry", outcome="rejected", reason="Topic is required")],
    )
    await settled(intake, "retry", submission_id, "rejected")

    # The cause is fixed on our side: the subject now goes to the details instead.
    fixed = contact_form()
    [subject_field] = [f for f in fixed["fields"] if f["name"] == "subject"]
    subject_field["maps_to"] = "activity.details"
    await intake.put_form("retry", fixed)

    response = await intake.client.post(
        f"/submissions/{submission_id}/retry", headers=STAFF_HEADERS
    )
    assert response.status_code == 200, response.text
    retried = response.json()
    assert retried["status"] == "received" and retried["attempt"] == 2
    assert retried["reason"] is None
    assert (await public_status(intake, "retry", submission_id))["status"] == "received"

    first, second = await intake.messages_about(submission_id)
    first, second = json.loads(first.value), json.loads(second.value)
    assert first["data"]["attempt"] == 1 and second["data"]["attempt"] == 2
    assert first["id"] != second["id"]
    assert second["type"] == "intake.submission_received"
    assert second["subject"] == "grace@example.org"
    assert first["data"]["case"]["subject"] == "Broken link"
    assert second["data"]["case"]["subject"] is None  # the form as it is now
    assert second["data"]["activity_details"] == "Broken link"
    assert second["data"]["received_at"] == first["data"]["received_at"]

    again = await intake.client.post(f"/submissions/{submission_id}/retry", headers=STAFF_HEADERS)
    assert again.status_code == 409  # received: nothing to retry yet

    case_id = uuid.uuid4()
    await intake.publish(
        topics.CASE_SUBMISSION_OUTCOMES,
        [
            # the first attempt's answer, late: ignored
            outcome(submission_id, "retry", outcome="rejected", reason="stale"),
            outcome(submission_id, "retry", attempt=2, outcome="case_opened", case_id=case_id),
        ],
        key="one-partition",
    )
    state = await settled(intake, "retry", submission_id, "case_opened")
    assert state["case_id"] == str(case_id)
    done = await intake.client.post(f"/submissions/{submission_id}/retry", headers=STAFF_HEADERS)
    assert done.status_code == 409
    assert len(await intake.messages_about(submission_id)) == 2
    unknown = await intake.client.post(f"/submissions/{uuid.uuid4()}/retry", headers=STAFF_HEADERS)
    assert unknown.status_code == 404
    bare = await intake.client.post(f"/submissions/{submission_id}/retry")
    assert bare.status_code == 401
