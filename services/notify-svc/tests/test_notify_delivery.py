"""From case events and send_email commands to one real email over SMTP, and what
notify-svc says about it."""

from __future__ import annotations

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
    events = await service.said(case["id"], expected=1)
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
    assert [e["type"] for e in await service.said(case["id"], expected=1)] == [EMAIL_SUPPRESSED]
    assert service.mailbox.to(case["clients"][0]["email"]) == []


async def test_header_injection_through_case_data_is_neutralised(service):
    await _template(
        service,
        "reply",
        {"subject": "Re: {{ case.subject }}", "body_text": "Hello {{ client.first_name }}"},
    )
    opened = service.case_opened(
        subject="Hi\r\nBcc: evil@example.com", first_name="Eve\r\nX-Evil: 1"
    )
    case = opened.data["case"]
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(topics.NOTIFY_COMMANDS, service.send_email(case["id"], template="reply"))

    [email] = await _final(service, case["id"])
    assert email["status"] == "sent", email["last_error"]
    [(rcpts, message)] = [
        r for r in service.mailbox.received if case["clients"][0]["email"] in r[0]
    ]
    assert rcpts == [case["clients"][0]["email"]]
    assert message.get_all("Subject") == ["Re: Hi Bcc: evil@example.com"]
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert all("evil@example.com" not in r for r, _ in service.mailbox.received)


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
    assert "550" in bounced["last_error"] and bounced["subject"] == "Hello Ada"
    [deferred] = await _final(service, later.data["case"]["id"])
    assert (deferred["status"], deferred["attempts"]) == (
        "failed",
        service.settings.send_max_attempts,
    )
    assert "451" in deferred["last_error"]
    for opened in (bounce, later):
        said = await service.said(opened.data["case"]["id"], expected=1)
        assert [e["type"] for e in said] == [EMAIL_FAILED]
