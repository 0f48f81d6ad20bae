"""Every email sent on a case is logged on it as one completed Email activity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from casestream import topics
from casestream.contracts.notify import EMAIL_SENT, EmailEvent, EmailState
from casestream.envelope import Envelope, new_envelope
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

SENT_AT = datetime(2025, 3, 3, 14, 31, 5, tzinfo=UTC)


def email_sent(case_id: uuid.UUID | None, to: list[str]) -> Envelope:
    email = EmailState(
        id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        case_id=case_id,
        to=to,
        subject="We received your message: Noise at night",
        body_text="Dear Ada, ...",
        status="sent",
        message_id="<x@casestream>",
        attempts=1,
        sent_at=SENT_AT,
    )
    return new_envelope(
        type=EMAIL_SENT, source="notify-svc", subject=str(case_id), data=EmailEvent(email=email)
    )


async def activities_of(service, case_id: str) -> list[dict]:
    answer = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
    return answer.json()["items"]


async def test_a_sent_email_is_logged_once_however_often_it_is_announced(service):
    case_id = uuid.uuid4()
    contact = uuid.uuid4()
    sent = email_sent(case_id, [str(contact), "someone@example.org"])
    # Redelivered, and announced again under a new message id.
    again = sent.model_copy(update={"id": uuid.uuid4()})
    marker = email_sent(uuid.uuid4(), ["clients"])  # behind them on the same partition
    for envelope in (sent, sent, again):
        await service.deliver(topics.NOTIFY_EVENTS, envelope)
    await service.deliver(topics.NOTIFY_EVENTS, marker, key=str(case_id))

    await eventually(lambda: activities_of(service, marker.subject), timeout_s=20)
    logged = await activities_of(service, str(case_id))
    assert len(logged) == 1
    email = logged[0]
    assert (email["type"], email["type_label"], email["status"]) == ("email", "Email", "completed")
    assert email["subject"] == "We received your message: Noise at night"
    assert email["details"] == "Dear Ada, ..."
    assert datetime.fromisoformat(email["occurred_at"]) == SENT_AT
    assert email["with_contact_ids"] == [str(contact)]
    assert email["source"] == f"email:{sent.data['email']['id']}"
    said = await service.said(topics.ACTIVITY_EVENTS, str(case_id), expected=1)
    assert [(m["type"], m["data"]["activity"]["id"]) for m in said] == [
        ("activity.completed", email["id"])
    ]
