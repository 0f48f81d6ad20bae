"""A misbehaving SMTP server: temporary refusals, a permanent one, a reply that never comes
in time, a server that is down. Each logical email ends as one row, and every copy the
server ever saw of it is the same bytes."""

from __future__ import annotations

import uuid
from datetime import datetime

from casestream import topics
from casestream.contracts.notify import EMAIL_FAILED, EMAIL_SENT
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS


def _address() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.org"


async def _case(service, address: str, **changes):
    opened = service.case_opened(email=address, **changes)
    await service.deliver(topics.CASE_EVENTS, opened)
    return opened


async def _final(service, case_id):
    async def check():
        found = await service.emails(case_id=str(case_id))
        return found if found and all(e["status"] != "queued" for e in found) else None

    return await eventually(check, timeout_s=30)


def _same_letter(copies, notification_id):
    assert {c.raw for c in copies} == {copies[0].raw}, "a retry sent different bytes"
    assert {c.message["Message-ID"] for c in copies} == {f"<{notification_id}@casestream>"}


async def test_two_temporary_refusals_of_the_data_then_one_email(service):
    address = _address()
    service.mailbox.data_replies[address] = [
        "451 4.7.1 greylisted, come back later",
        "452 4.3.1 insufficient system storage",
    ]
    opened = await _case(service, address)
    case_id = opened.data["case"]["id"]
    command = service.send_email(case_id, subject="Hello {{ client.first_name }}", body_text="Hi")
    await service.deliver(topics.NOTIFY_COMMANDS, command)

    [email] = await _final(service, case_id)
    assert (email["status"], email["attempts"], email["last_error"]) == ("sent", 3, None)
    copies = service.mailbox.all_to(address)
    assert [c.reply[:3] for c in copies] == ["451", "452", "250"]
    assert len(service.mailbox.to(address)) == 1
    _same_letter(copies, command.data["notification_id"])
    assert [e["type"] for e in await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)] == [
        EMAIL_SENT
    ]


async def test_a_permanent_refusal_of_the_data_fails_with_the_servers_reply(service):
    address = _address()
    service.mailbox.data_replies[address] = ["554 5.7.1 message content rejected as spam"]
    opened = await _case(service, address)
    case_id = opened.data["case"]["id"]
    await service.deliver(
        topics.NOTIFY_COMMANDS, service.send_email(case_id, subject="Offer", body_text="Buy")
    )

    [email] = await _final(service, case_id)
    assert (email["status"], email["attempts"]) == ("failed", 1)
    assert email["last_error"] == "554 5.7.1 message content rejected as spam"
    assert service.mailbox.to(address) == [] and len(service.mailbox.all_to(address)) == 1
    said = await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)
    assert [e["type"] for e in said] == [EMAIL_FAILED]
    assert said[0]["data"]["email"]["last_error"] == email["last_error"]


async def test_a_timeout_after_the_data_is_followed_by_the_same_letter_not_a_new_one(service):
    """The server got the data but answers only after the client gave up: did it accept?
    Unknowable, so the retry sends the very same bytes, even though the case changed in
    between (a re-rendered letter would carry the new subject)."""
    await service.client.put(
        "/templates/about",
        json={"subject": "About {{ case.subject }}", "body_text": "Re {{ case.subject }}"},
        headers=STAFF_HEADERS,
    )
    address = _address()
    service.mailbox.data_delays[address] = [service.settings.smtp_timeout_s + 1.5]
    opened = await _case(service, address, subject="Old subject")
    case_id = opened.data["case"]["id"]
    command = service.send_email(case_id, template="about")
    await service.deliver(topics.NOTIFY_COMMANDS, command)

    async def first_copy():
        return service.mailbox.all_to(address)

    await eventually(first_copy)
    await service.deliver(topics.CASE_EVENTS, service.case_updated(opened, subject="New subject"))

    async def read_model_changed():
        preview = await service.client.post(
            "/templates/about/preview", json={"case_id": case_id}, headers=STAFF_HEADERS
        )
        return preview.json()["subject"] == "About New subject"

    await eventually(read_model_changed)
    assert len(service.mailbox.all_to(address)) == 1, "the change came after the retry"

    [email] = await _final(service, case_id)
    assert (email["status"], email["attempts"]) == ("sent", 2)
    assert email["subject"] == "About Old subject"
    copies = service.mailbox.all_to(address)
    assert len(copies) == 2
    _same_letter(copies, command.data["notification_id"])
    assert copies[0].message["Subject"] == "About Old subject"
    # Dated when the email was asked for, not when a try went out.
    asked = datetime.fromisoformat(email["created_at"]).replace(microsecond=0)
    assert copies[0].message["Date"].datetime == asked
    assert [e["type"] for e in await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)] == [
        EMAIL_SENT
    ]


async def test_a_server_that_is_down_at_first_gets_the_email_once_it_is_up(service):
    address = _address()
    opened = await _case(service, address)
    case_id = opened.data["case"]["id"]
    service.smtp_server.stop()
    try:
        await service.deliver(
            topics.NOTIFY_COMMANDS,
            service.send_email(case_id, subject="Are you there?", body_text="Hello"),
        )

        async def refused():
            found = await service.emails(case_id=case_id)
            return [e for e in found if "connect" in (e["last_error"] or "").lower()]

        await eventually(refused)
    finally:
        service.smtp_server.start()

    [email] = await _final(service, case_id)
    assert email["status"] == "sent" and email["attempts"] >= 2
    assert len(service.mailbox.to(address)) == 1
    assert [e["type"] for e in await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)] == [
        EMAIL_SENT
    ]
