"""Templates are checked when saved and previewed against the read model; staff can send
an email by hand and read the log."""

from __future__ import annotations

import uuid

from casestream import topics
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS


async def _put(service, name, body):
    return await service.client.put(f"/templates/{name}", json=body, headers=STAFF_HEADERS)


async def test_a_template_with_an_unknown_token_or_bad_syntax_is_refused(service):
    unknown = await _put(service, "bad", {"subject": "Hi {{ user.password }}", "body_text": "x"})
    assert unknown.status_code == 422
    [error] = unknown.json()["detail"]
    assert error["loc"] == ["body", "subject"] and "unknown token user" in error["msg"]

    broken = await _put(service, "bad", {"subject": "Hi", "body_text": "{% if case %}open"})
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["loc"] == ["body", "body_text"]
    assert (await service.client.get("/templates/bad", headers=STAFF_HEADERS)).status_code == 404


async def test_put_is_an_upsert_and_templates_are_listed(service):
    body = {"subject": "Hello {{ client.first_name }}", "body_text": "About {{ case.subject }}"}
    assert (await _put(service, "greeting", body)).status_code == 201
    again = await _put(service, "greeting", {**body, "body_html": "<p>{{ case.subject }}</p>"})
    assert again.status_code == 200 and again.json()["body_html"] == "<p>{{ case.subject }}</p>"
    listed = (await service.client.get("/templates", headers=STAFF_HEADERS)).json()["items"]
    assert [t["name"] for t in listed].count("greeting") == 1


async def test_preview_renders_for_a_known_case_only(service):
    await _put(
        service,
        "greeting",
        {
            "subject": "Hello {{ client.first_name }}",
            "body_text": "About {{ case.subject }}",
            "body_html": "<p>{{ case.subject }}</p>",
        },
    )
    unknown = await service.client.post(
        "/templates/greeting/preview", json={"case_id": str(uuid.uuid4())}, headers=STAFF_HEADERS
    )
    assert unknown.status_code == 404

    opened = service.case_opened(subject="Fish & chips")
    await service.deliver(topics.CASE_EVENTS, opened)
    case_id = opened.data["case"]["id"]

    async def preview():
        response = await service.client.post(
            "/templates/greeting/preview", json={"case_id": case_id}, headers=STAFF_HEADERS
        )
        return response if response.status_code == 200 else None

    rendered = (await eventually(preview)).json()
    assert rendered["subject"] == "Hello Ada"
    assert rendered["body_text"] == "About Fish & chips"
    assert rendered["body_html"] == "<p>Fish &amp; chips</p>"
    assert rendered["recipients"][0]["address"] == opened.data["case"]["clients"][0]["email"]


async def test_a_manual_email_is_queued_then_sent(service):
    opened = service.case_opened()
    await service.deliver(topics.CASE_EVENTS, opened)
    case_id = opened.data["case"]["id"]

    missing = await service.client.post(
        "/emails", json={"case_id": case_id, "subject": "Hi"}, headers=STAFF_HEADERS
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == [
        "body",
        "body_text",
    ]
    no_template = await service.client.post(
        "/emails", json={"case_id": case_id, "template": "nope"}, headers=STAFF_HEADERS
    )
    assert no_template.json()["detail"][0]["loc"] == ["body", "template"]

    queued = await service.client.post(
        "/emails",
        json={
            "case_id": case_id,
            "to": ["clients", "desk@example.org"],
            "subject": "Your case {{ case.subject }}",
            "body_text": "We are on it.",
        },
        headers=STAFF_HEADERS,
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"

    async def sent():
        return await service.emails(case_id=case_id, status="sent")

    [email] = await eventually(sent)
    assert email["id"] == queued.json()["id"]
    assert email["subject"] == "Your case Noise at night"
    assert sorted(r["address"] for r in email["recipients"]) == sorted(
        ["desk@example.org", opened.data["case"]["clients"][0]["email"]]
    )
    assert len(service.mailbox.to("desk@example.org")) == 1
