"""A send_email that comes again as a message of its own (automation-svc heard no outcome and
sent it again) for an email whose fate notify-svc knows is answered with that fate again,
under the first event's id, and sends nothing: one email per notification id."""

from __future__ import annotations

import uuid

import pytest

from casestream import topics
from casestream.contracts.notify import EMAIL_FAILED, EMAIL_SENT

from .test_notify_delivery import _final, _template


@pytest.mark.parametrize(
    ("address", "fate", "event_type"),
    [(None, "sent", EMAIL_SENT), ("bounce@example.org", "failed", EMAIL_FAILED)],
)
async def test_a_repeated_send_email_says_the_emails_fate_again_and_sends_nothing(
    service, address, fate, event_type
):
    await _template(service)
    opened = service.case_opened(**({"email": address} if address else {}))
    case = opened.data["case"]
    to = case["clients"][0]["email"]
    await service.deliver(topics.CASE_EVENTS, opened)
    command = service.send_email(case["id"], template="acknowledgement")
    await service.deliver(topics.NOTIFY_COMMANDS, command)
    [email] = await _final(service, case["id"])
    assert email["status"] == fate
    delivered = len(service.mailbox.all_to(to))

    notification_id = uuid.UUID(command.data["notification_id"])
    again = service.send_email(
        case["id"],
        envelope_id=uuid.uuid4(),
        notification_id=notification_id,
        template="acknowledgement",
    )
    await service.deliver(topics.NOTIFY_COMMANDS, again)

    first, said_again = await service.said(topics.NOTIFY_EVENTS, case["id"], expected=2)
    assert first["type"] == said_again["type"] == event_type
    # The same event: whoever heard the first drops this one (activity-svc logs one Email).
    assert said_again["id"] == first["id"] == str(uuid.uuid5(notification_id, fate))
    assert said_again["data"] == first["data"]
    assert said_again["correlation_id"] == first["correlation_id"] == command.correlation_id

    # A marker: a new email to the same client after the repeat, on the same key (handled
    # after it); once it is through, a second sending of the first would have been too.
    marker = service.send_email(case["id"], template="acknowledgement")
    await service.deliver(topics.NOTIFY_COMMANDS, marker)
    await service.said(topics.NOTIFY_EVENTS, case["id"], expected=3)
    [again_email] = [e for e in await service.emails(case_id=case["id"]) if e["id"] == email["id"]]
    assert (again_email["status"], again_email["attempts"]) == (fate, email["attempts"])
    assert len(service.mailbox.all_to(to)) == delivered + (fate == "sent")
