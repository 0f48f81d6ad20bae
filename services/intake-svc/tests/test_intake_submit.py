"""Public posts: stored once, announced once on intake.submissions, validated per field."""

from __future__ import annotations

import asyncio
import json

from casestream.testing.services import STAFF_HEADERS

from .conftest import contact_form

GOOD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "  Ada.Lovelace@Example.ORG ",
    "subject": "Engine question",
    "message": "Can it weave algebra?",
    "topic": "billing",
    "favourite_colour": "green",  # not a field of the form: dropped
}


async def test_a_json_post_stores_one_submission_and_says_so_once(intake):
    await intake.put_form("json-post")
    response = await intake.post_json("json-post", GOOD, key="json-post-1")
    assert response.status_code == 202, response.text
    body = response.json()
    submission_id = body["submission_id"]
    assert body["status_url"] == f"/f/json-post/submissions/{submission_id}"
    assert response.headers["location"] == body["status_url"]

    status = (await intake.client.get(body["status_url"])).json()
    assert status["id"] == submission_id and status["form"] == "json-post"
    assert status["status"] == "received" and status["case_id"] is None

    records = await intake.messages_about(submission_id)
    assert len(records) == 1
    record = records[0]
    assert record.topic == f"{intake.settings.topic_prefix}intake.submissions"
    assert record.key == b"ada.lovelace@example.org"
    envelope = json.loads(record.value)
    assert envelope["type"] == "intake.submission_received"
    assert envelope["subject"] == "ada.lovelace@example.org"
    assert envelope["source"] == "intake-svc"
    data = envelope["data"]
    assert data["form"] == "json-post" and data["case_type"] == "general_enquiry"
    assert data["contact"] == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada.Lovelace@Example.ORG",
        "phone": None,
    }
    assert data["case"] == {
        "subject": "Engine question",
        "details": "Can it weave algebra?",
        "custom": {"topic": "billing"},
    }
    assert data["duplicate_contact_rule"] == "email" and data["existing_open_case"] == "new_case"

    listed = await intake.client.get("/submissions?form=json-post", headers=STAFF_HEADERS)
    [stored] = listed.json()["items"]
    assert "favourite_colour" not in stored["values"]
    assert stored["values"]["email"] == "Ada.Lovelace@Example.ORG"
    assert stored["idempotency_key"] == "json-post-1" and stored["attempt"] == 1


async def test_an_urlencoded_post_redirects_and_says_so_once(intake):
    await intake.put_form("html-post")
    response = await intake.post_page("html-post", GOOD)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/f/html-post/thanks"
    thanks = await intake.client.get("/f/html-post/thanks")
    assert thanks.status_code == 200 and "Thank you" in thanks.text

    [stored] = (
        await intake.client.get("/submissions?form=html-post", headers=STAFF_HEADERS)
    ).json()["items"]
    records = await intake.messages_about(stored["id"])
    assert len(records) == 1 and records[0].key == b"ada.lovelace@example.org"
    assert json.loads(records[0].value)["data"]["contact"]["last_name"] == "Lovelace"


async def test_a_multipart_post_goes_to_the_success_url(intake):
    await intake.put_form("multipart", contact_form(success_url="https://example.org/thanks"))
    inputs = await intake.page_inputs("multipart")
    fields = {k: (None, v) for k, v in {**inputs, **GOOD}.items()}
    response = await intake.client.post("/f/multipart", files=fields)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "https://example.org/thanks"


async def test_json_errors_name_each_field(intake):
    await intake.put_form("json-errors")
    bad = {
        **GOOD,
        "first_name": " ",
        "email": "not-an-email",
        "message": "x" * 5001,
        "topic": "cheese",
    }
    response = await intake.post_json("json-errors", bad)
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e for e in response.json()["detail"]}
    assert set(errors) == {
        ("body", "first_name"),
        ("body", "email"),
        ("body", "message"),
        ("body", "topic"),
    }
    assert errors[("body", "first_name")]["type"] == "missing"
    assert errors[("body", "message")]["type"] == "string_too_long"
    listed = await intake.client.get("/submissions?form=json-errors", headers=STAFF_HEADERS)
    assert listed.json()["items"] == []


async def test_an_html_post_with_errors_shows_the_form_again_with_the_values(intake):
    await intake.put_form("html-errors")
    bad = {**GOOD, "email": "ada<at>example", "subject": ""}
    response = await intake.post_page("html-errors", bad)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'value="ada&lt;at&gt;example"' in page  # what she typed, escaped
    assert 'value="Lovelace"' in page
    assert "Enter an email address" in page and "This field is required." in page
    assert 'id="field-email-error"' in page and 'aria-invalid="true"' in page
    assert 'href="#field-subject"' in page  # the summary links to the field


async def test_the_same_idempotency_key_five_times_at_once_is_one_submission(intake):
    await intake.put_form("idempotent")
    headers = {"Idempotency-Key": "click-42"}
    responses = await asyncio.gather(
        *(intake.client.post("/f/idempotent", json=GOOD, headers=headers) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [202] * 5
    ids = {r.json()["submission_id"] for r in responses}
    assert len(ids) == 1
    listed = await intake.client.get("/submissions?form=idempotent", headers=STAFF_HEADERS)
    assert len(listed.json()["items"]) == 1
    assert len(await intake.messages_about(ids.pop())) == 1


async def test_the_page_key_makes_a_double_click_one_submission(intake):
    await intake.put_form("double-click")
    posted = {**GOOD, **await intake.page_inputs("double-click")}
    first, *others = await asyncio.gather(
        *(intake.client.post("/f/double-click", data=posted) for _ in range(5))
    )
    assert [r.status_code for r in [first, *others]] == [303] * 5
    again = await intake.client.post("/f/double-click", data=posted)  # the back button, resent
    assert again.status_code == 303
    listed = await intake.client.get("/submissions?form=double-click", headers=STAFF_HEADERS)
    assert len(listed.json()["items"]) == 1


async def test_unknown_or_disabled_forms_are_not_found(intake):
    assert (await intake.client.post("/f/nope", json=GOOD)).status_code == 404
    assert (await intake.client.get("/f/nope")).status_code == 404
    await intake.put_form("closed", contact_form(enabled=False))
    assert (await intake.client.post("/f/closed", json=GOOD)).status_code == 404
    assert (await intake.client.get("/f/closed")).status_code == 404


async def test_a_body_over_64_kib_is_refused_before_parsing(intake):
    await intake.put_form("big")
    huge = {**GOOD, "message": "x" * 70_000}
    declared = await intake.client.post("/f/big", json=huge)
    assert declared.status_code == 413

    async def chunks():  # no Content-Length: the streamed size decides
        yield b'{"message": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    streamed = await intake.client.post(
        "/f/big", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    listed = await intake.client.get("/submissions?form=big", headers=STAFF_HEADERS)
    assert listed.json()["items"] == []


async def test_posts_from_origins_the_form_does_not_allow_are_refused(intake):
    await intake.put_form("origins", contact_form(allowed_origins=["https://shop.example"]))
    foreign = await intake.post_json("origins", GOOD, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    allowed = await intake.post_json("origins", GOOD, headers={"Origin": "https://shop.example"})
    assert allowed.status_code == 202
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
