"""Following submissions: a case.opened event naming one moves it to case_opened, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from casestream import topics
from casestream.contracts.case import CaseEvent, CaseOrigin, CaseState, ContactState
from casestream.envelope import new_envelope
from casestream.persistence.tables import inbox
from casestream.testing.plugin import eventually

FORM_VALUES = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "email": "grace@example.org",
    "subject": "A bug",
}


def case_event(type: str, submission_id: str | None, case_id: uuid.UUID, client_id: uuid.UUID):
    now = datetime.now(UTC)
    case = CaseState(
        id=case_id,
        instance="cases",
        case_type="general_enquiry",
        case_type_version=1,
        subject="A bug",
        status="open",
        status_class="opened",
        active=True,
        clients=[ContactState(id=client_id, first_name="Grace", email="grace@example.org")],
        start_date=date.today(),
        created_at=now,
        updated_at=now,
        version=1,
    )
    origin = CaseOrigin(submission_id=submission_id, form="tracked") if submission_id else None
    return new_envelope(
        type=type, source="case-svc", subject=str(case_id), data=CaseEvent(case=case, origin=origin)
    )


async def publish(intake, envelopes: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=intake.kafka_bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            # One key for all: one partition, so they are handled in this order.
            await producer.send_and_wait(
                intake.settings.topic(topics.CASE_EVENTS),
                json.dumps(envelope.model_dump(mode="json")).encode(),
                key=b"same-partition",
            )
    finally:
        await producer.stop()


async def submit(intake) -> str:
    response = await intake.client.post("/f/tracked", json=FORM_VALUES)
    assert response.status_code == 202
    return response.json()["submission_id"]


async def status(intake, submission_id: str) -> dict[str, Any]:
    return (await intake.client.get(f"/f/tracked/submissions/{submission_id}")).json()


async def test_case_opened_moves_the_submission_to_case_opened_once(intake):
    await intake.put_form("tracked")
    tracked, ignored, unrelated, marker = [await submit(intake) for _ in range(4)]
    case_id, client_id = uuid.uuid4(), uuid.uuid4()
    opened = case_event("case.opened", tracked, case_id, client_id)
    await publish(intake, [opened])

    async def tracked_opened():
        state = await status(intake, tracked)
        return state if state["status"] == "case_opened" else None

    first = await eventually(tracked_opened, timeout_s=20)
    assert first["case_id"] == str(case_id)
    async with intake.database.session() as session:
        contact_id = await session.scalar(
            sa.text("SELECT contact_id FROM submissions WHERE id = :id"), {"id": tracked}
        )
    assert contact_id == client_id

    await publish(
        intake,
        [
            opened,  # the very same message again
            case_event("case.opened", tracked, uuid.uuid4(), uuid.uuid4()),  # a second case for it
            case_event("case.updated", ignored, uuid.uuid4(), client_id),  # not an opening
            case_event("case.opened", None, uuid.uuid4(), client_id),  # not from a form
            case_event("case.opened", marker, uuid.uuid4(), client_id),  # handled after the rest
        ],
    )

    async def marker_opened():
        return (await status(intake, marker))["status"] == "case_opened"

    await eventually(marker_opened, timeout_s=20)
    assert await status(intake, tracked) == first  # nothing changed, not even updated_at
    assert (await status(intake, ignored))["status"] == "received"
    assert (await status(intake, unrelated))["status"] == "received"
    async with intake.database.session() as session:
        claims = await session.scalar(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.message_id == opened.id)
        )
    assert claims == 1


async def test_the_status_of_an_unknown_submission_is_not_found(intake):
    await intake.put_form("tracked")
    assert (await intake.client.get(f"/f/tracked/submissions/{uuid.uuid4()}")).status_code == 404
    theirs = await submit(intake)
    assert (await intake.client.get(f"/f/other/submissions/{theirs}")).status_code == 404
