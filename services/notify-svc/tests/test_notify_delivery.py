"""From case events and send_email commands to one real email over SMTP, and what
notify-svc says about it."""

from __future__ import annotations

import re
import uuid

from casestream import topics
from casestream.contracts.notify import EMAIL_FAILED, EMAIL_SENT, EMAIL_SUPPRESSED
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

ACKNOWLEDGEMENT = {
    "subject": "We received your message: {{ case.subject }}",
    "body_text": "Dear {{ client.first_name }},\n\nThank you for contacting us about "
    '"{{ case.subject }}" ({{ case.custom.ward }}).',
    "body_html": "<p>Dear {{ client.first_name }},</p><p>About {{ case.subject }}</p>",
}


async def _template(service, name="acknowledgement", body=ACKNOWLEDGEMENT):
    response = await service.client.put(f"/templates/{name}", json=body, headers=STAFF_HEADERS)
    assert response.status_code in (200, 201), response.text


async def _final(service, case_id):
    async def check():
        found = await service.emails(case_id=str(case_id))
        return found if found and all(e["status"] != "queued" for e in found) else None

    return await eventually(check, timeout_s=20)


async def test_a_command_twice_before_its_case_is_known_sends_one_rendered_email(service):
    await _template(service)
    opened = service.case_opened(subject="Noise <at> night")
    case, ada = opened.data["case"], opened.data["case"]["clients"][0]
    command = service.send_email(case["id"], template="acknowledgement")

    # The command overtakes the case event: the worker waits for the case to be known.
    await service.deliver(topics.NOTIFY_COMMANDS, command, times=2)
    await service.deliver(topics.CASE_EVENTS, opened)

    [email] = await _final(service, case["id"])
    events = await service.said(topics.NOTIFY_EVENTS, case["id"], expected=1)
    received = service.mailbox.to(ada["email"])
    assert len(received) == 1
    message = received[0]
    notification_id = command.data["notification_id"]
    assert message["Message-ID"] == f"<{notification_id}@casestream>"
    assert message["Subject"] == "We received your message: Noise <at> night"
    assert message["To"] == f"Ada Lovelace <{ada['email']}>"
    assert message["From"] == "casestream <noreply@casestream.local>"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Dear Ada,") and '"Noise <at> night" (North)' in text
    html = message.get_body(("html",)).get_content()
    assert "<p>About Noise &lt;at&gt; night</p>" in html  # autoescaped

    assert (email["status"], email["attempts"], email["notification_id"]) == (
        "sent",
        1,
        notification_id,
    )
    assert email["subject"] == message["Subject"] and email["sent_at"]
    assert [e["type"] for e in events] == [EMAIL_SENT]
    sent = events[0]["data"]["email"]
    assert (sent["id"], sent["status"], sent["to"]) == (email["id"], "sent", [ada["id"]])
    assert sent["message_id"] == message["Message-ID"]
    assert events[0]["correlation_id"] == command.correlation_id


async def test_a_do_not_email_client_is_suppressed_and_not_mailed(service):
    await _template(service)
    opened = service.case_opened(do_not_email=True)
    case = opened.data["case"]
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(
        topics.NOTIFY_COMMANDS, service.send_email(case["id"], template="acknowledgement")
    )

    [email] = await _final(service, case["id"])
    assert email["status"] == "suppressed"
    assert email["recipients"][0]["suppressed"] is True
    assert [
        e["type"] for e in await service.said(topics.NOTIFY_EVENTS, case["id"], expected=1)
    ] == [EMAIL_SUPPRESSED]
    assert service.mailbox.to(case["clients"][0]["email"]) == []


async def test_header_injection_through_case_data_is_neutralised(service):
    await _template(
        service,
        "reply",
        {"subject": "Re: {{ case.subject }}", "body_text": "Hello {{ client.first_name }}"},
    )
    opened = service.case_opened(
        subject="Hi\r\nBcc: evil@example.com",
        first_name="Eve\r\nX-Evil: 1",
        last_name="Smith\nCc: evil2@example.com",
    )
    case = opened.data["case"]
    client = case["clients"][0]["email"]
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(
            case["id"],
            template="reply",
            to=["clients", "desk@example.org\r\nBcc: evil3@example.com"],
        ),
    )

    [email] = await _final(service, case["id"])
    assert email["status"] == "sent", email["last_error"]
    assert "not an email address" in email["last_error"]  # the smuggled address, unresolved
    [delivery] = [d for d in service.mailbox.received if client in d.rcpts]
    assert delivery.rcpts == [client]
    message = delivery.message
    assert set(message.keys()) == {
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Date",
        "X-Correlation-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    }
    assert message.get_all("Subject") == ["Re: Hi Bcc: evil@example.com"]
    assert [a.addr_spec for a in message["To"].addresses] == [client]
    header_block = delivery.raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^(bcc|cc|x-evil):", header_block)
    assert all("evil" not in r for d in service.mailbox.seen for r in d.rcpts)


async def test_a_redelivered_command_and_a_second_envelope_for_one_notification_send_once(
    service,
):
    opened = service.case_opened()
    case_id, client = opened.data["case"]["id"], opened.data["case"]["clients"][0]["email"]
    await service.deliver(topics.CASE_EVENTS, opened)
    command = service.send_email(case_id, subject="Once", body_text="Only once.")
    # Another envelope (another id, so the inbox lets it in) for the same notification.
    again = service.send_email(
        case_id,
        envelope_id=uuid.uuid4(),
        notification_id=command.data["notification_id"],
        subject="Twice?",
        body_text="A second email.",
    )
    await service.deliver(topics.NOTIFY_COMMANDS, command, times=2)
    await service.deliver(topics.NOTIFY_COMMANDS, again)
    # Same key, so the same partition: once this one is handled, so are those before it.
    marker = service.send_email(case_id, to=["marker@example.org"], subject="M", body_text="M")
    await service.deliver(topics.NOTIFY_COMMANDS, marker)

    async def both_final():
        found = await service.emails(case_id=case_id)
        return found if len(found) == 2 and all(e["status"] == "sent" for e in found) else None

    found = await eventually(both_final)
    [email] = [e for e in found if e["notification_id"] == command.data["notification_id"]]
    assert (email["subject"], email["attempts"]) == ("Once", 1)
    assert [m["Subject"] for m in service.mailbox.to(client)] == ["Once"]
    said = await service.said(topics.NOTIFY_EVENTS, case_id, expected=2)
    assert sorted(e["data"]["email"]["notification_id"] for e in said) == sorted(
        [command.data["notification_id"], marker.data["notification_id"]]
    )


async def test_a_5xx_reply_fails_at_once_and_a_4xx_is_retried_then_fails(service):
    bounce, later = (
        service.case_opened(email="bounce@example.org"),
        service.case_opened(email="later@example.org"),
    )
    for opened in (bounce, later):
        await service.deliver(topics.CASE_EVENTS, opened)
        await service.deliver(
            topics.NOTIFY_COMMANDS,
            service.send_email(
                opened.data["case"]["id"], subject="Hello {{ client.first_name }}", body_text="Hi"
            ),
        )

    [bounced] = await _final(service, bounce.data["case"]["id"])
    assert (bounced["status"], bounced["attempts"]) == ("failed", 1)
    assert "550 5.1.1 no such user" in bounced["last_error"]
    assert bounced["subject"] == "Hello Ada"
    [deferred] = await _final(service, later.data["case"]["id"])
    assert (deferred["status"], deferred["attempts"]) == (
        "failed",
        service.settings.send_max_attempts,
    )
    assert "451 4.3.0 try again later" in deferred["last_error"]
    for opened in (bounce, later):
        said = await service.said(topics.NOTIFY_EVENTS, opened.data["case"]["id"], expected=1)
        assert [e["type"] for e in said] == [EMAIL_FAILED]
