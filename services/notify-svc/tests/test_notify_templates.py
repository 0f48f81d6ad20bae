"""Templates are checked when saved and previewed against the read model; staff can send
an email by hand and read the log."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from casestream import topics
from casestream.contracts.notify import TEMPLATE_SAVED
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


@pytest.mark.parametrize(
    ("part", "source", "named"),
    [
        ("subject", "{{ case.__class__ }}", "case.__class__"),
        ("body_text", "{{ ''.__class__.__mro__ }}", "''.__class__.__mro__"),
        ("body_html", "<p>{{ cycler.__init__.__globals__ }}</p>", "cycler.__init__.__globals__"),
        ("body_text", "{{ case|attr('__class__') }}", "case|attr"),
        ("subject", "{{ case.subjct }}", "unknown token case.subjct; case has: id, instance"),
        ("body_text", "{{ client.frist_name }}", "unknown token client.frist_name; client has"),
        ("body_text", "{{ roles.manager.emial }}", "unknown token roles.manager.emial"),
        ("body_html", "{{ activity.outcom }}", "unknown token activity.outcom; activity has"),
    ],
)
async def test_unsafe_or_unknown_tokens_are_refused_on_save_naming_the_part(
    service, part, source, named
):
    body = {"subject": "Hello", "body_text": "Hi", part: source}
    response = await _put(service, "unsafe", body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", part] and named in error["msg"], error
    assert (await service.client.get("/templates/unsafe", headers=STAFF_HEADERS)).status_code == 404


async def test_known_tokens_and_free_custom_values_are_accepted(service):
    body = {
        "subject": "{{ case.subject }} for {{ client.first_name }} ({{ case.custom.ward }})",
        "body_text": "{{ case.opportunity.amount }} {{ roles.manager.email }} "
        "{% for c in clients %}{{ c.last_name }}{{ loop.index }}{% endfor %} "
        "{{ activity.subject }} {{ case.subject.upper() }}",
    }
    assert (await _put(service, "fine", body)).status_code in (200, 201)


async def test_unsafe_inline_emails_are_refused_by_http_and_fail_from_a_command(service):
    opened = service.case_opened()
    case_id = opened.data["case"]["id"]
    await service.deliver(topics.CASE_EVENTS, opened)
    refused = await service.client.post(
        "/emails",
        json={"case_id": case_id, "subject": "Hi", "body_text": "{{ ''.__class__.__mro__ }}"},
        headers=STAFF_HEADERS,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "body_text"]

    # A command is checked when its email is drafted: it fails, naming the token.
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case_id, subject="{{ case.__class__ }}", body_text="x"),
    )

    async def failed():
        return await service.emails(case_id=case_id, status="failed")

    [email] = await eventually(failed)
    assert "refused token case.__class__" in email["last_error"]
    assert service.mailbox.to(opened.data["case"]["clients"][0]["email"]) == []


async def test_each_save_is_announced_on_notify_templates(service):
    name = f"announced-{uuid.uuid4().hex[:8]}"
    first = await _put(service, name, {"subject": "One {{ case.subject }}", "body_text": "1"})
    second = await _put(service, name, {"subject": "Two", "body_text": "2", "body_html": "<b>2"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert (
        await _put(service, name, {"subject": "{{ case.nope }}", "body_text": ""})
    ).status_code == 422

    said = await service.said(topics.NOTIFY_TEMPLATES, name, expected=2)
    assert [m["type"] for m in said] == [TEMPLATE_SAVED, TEMPLATE_SAVED]
    assert {m["subject"] for m in said} == {name} and len({m["id"] for m in said}) == 2
    for message, saved in zip(said, (first.json(), second.json()), strict=True):
        data = message["data"]
        assert (data["name"], data["subject"], data["body_html"]) == (
            name,
            saved["subject"],
            saved["body_html"],
        )
        assert datetime.fromisoformat(data["updated_at"]) == datetime.fromisoformat(
            saved["updated_at"]
        )
