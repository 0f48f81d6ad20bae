"""Emails about the activity that triggered them, and emails to the case's assignee (a
staff user, reached through the address configured with their token)."""

from __future__ import annotations

import uuid

from casestream import topics
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

FOLLOW_UP = {
    "subject": "After your {{ activity.subject }}",
    "body_text": "Dear {{ client.first_name }}, about {{ case.subject }} "
    "({{ activity.type }}, {{ activity.status }}).",
}


async def _final(service, case_id):
    async def check():
        found = await service.emails(case_id=str(case_id))
        return found if found and all(e["status"] != "queued" for e in found) else None

    return await eventually(check)


async def _known_case(service, **fields):
    opened = service.case_opened(**fields)
    await service.deliver(topics.CASE_EVENTS, opened)
    return opened


async def test_activity_tokens_render_from_the_commands_activity(service):
    await service.client.put("/templates/follow-up", json=FOLLOW_UP, headers=STAFF_HEADERS)
    opened = await _known_case(service)
    case = opened.data["case"]
    call = service.activity(case["id"], subject="Initial call with Ada")
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case["id"], template="follow-up", activity=call),
    )

    [email] = await _final(service, case["id"])
    assert email["status"] == "sent", email["last_error"]
    [message] = service.mailbox.to(case["clients"][0]["email"])
    assert message["Subject"] == "After your Initial call with Ada"
    assert message.get_content().strip() == (
        "Dear Ada, about Noise at night (initial_call, completed)."
    )


async def test_activity_tokens_without_an_activity_fail_with_a_clear_error(service):
    await service.client.put("/templates/follow-up", json=FOLLOW_UP, headers=STAFF_HEADERS)
    opened = await _known_case(service)
    case_id = opened.data["case"]["id"]
    await service.deliver(topics.NOTIFY_COMMANDS, service.send_email(case_id, template="follow-up"))

    [email] = await _final(service, case_id)
    assert email["status"] == "failed"
    assert "uses activity tokens, but no activity asked for it" in email["last_error"]


async def test_preview_takes_an_activity(service):
    await service.client.put("/templates/follow-up", json=FOLLOW_UP, headers=STAFF_HEADERS)
    opened = await _known_case(service)
    case_id = opened.data["case"]["id"]
    call = service.activity(case_id, subject="Site visit", type="meeting")

    async def preview(**extra):
        response = await service.client.post(
            "/templates/follow-up/preview",
            json={"case_id": case_id, **extra},
            headers=STAFF_HEADERS,
        )
        return response if response.status_code != 404 else None  # case not known yet

    rendered = await eventually(lambda: preview(activity=call))
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["subject"] == "After your Site visit"
    assert "(meeting, completed)" in rendered.json()["body_text"]
    without = await preview()
    assert without.status_code == 422
    assert "activity" in without.json()["detail"][0]["msg"]


async def test_the_assignee_is_reached_at_their_tokens_address(service):
    subject = f"Leak {uuid.uuid4().hex[:6]}"
    opened = await _known_case(service, assignee="ann", subject=subject)
    case_id = opened.data["case"]["id"]
    response = await service.client.post(
        "/emails",
        json={
            "case_id": case_id,
            "to": ["assignee"],
            "subject": "Assigned to you: {{ case.subject }}",
            "body_text": "Please call {{ client.first_name }}.",
        },
        headers=STAFF_HEADERS,
    )
    assert response.status_code == 202, response.text

    [email] = await _final(service, case_id)
    assert email["status"] == "sent", email["last_error"]
    assert email["recipients"] == [
        {"address": "ann.staff@example.org", "contact_id": None, "name": "Ann", "suppressed": False}
    ]
    [message] = [
        m
        for m in service.mailbox.to("ann.staff@example.org")
        if m["Subject"] == f"Assigned to you: {subject}"
    ]
    assert message["To"] == "Ann <ann.staff@example.org>"
    assert message.get_content().strip() == "Please call Ada."
    said = await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)
    assert said[0]["data"]["email"]["to"] == ["ann.staff@example.org"]


async def test_an_assignee_without_an_address_is_noted_as_unresolved(service):
    pooled = await _known_case(service)  # no assignee: in the pool
    unknown = await _known_case(service, assignee="bob")  # no token with an address
    for opened in (pooled, unknown):
        await service.deliver(
            topics.NOTIFY_COMMANDS,
            service.send_email(
                opened.data["case"]["id"],
                to=["assignee", "clients"] if opened is pooled else ["assignee"],
                subject="Hi",
                body_text="Hello",
            ),
        )

    [to_client] = await _final(service, pooled.data["case"]["id"])
    assert to_client["status"] == "sent"
    assert "'assignee': the case has no assignee" in to_client["last_error"]
    [to_nobody] = await _final(service, unknown.data["case"]["id"])
    assert to_nobody["status"] == "failed"
    assert "no email address known for staff user 'bob'" in to_nobody["last_error"]
