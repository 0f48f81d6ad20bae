"""Opening cases through HTTP and from web form submissions, with the events they cause."""

import json
import uuid
from datetime import UTC, datetime

from casestream import topics
from casestream.contracts.intake import SubmissionReceived
from casestream.envelope import new_envelope
from casestream.service import Runtime
from casestream.settings import ServiceSettings
from casestream.testing.plugin import eventually

from .conftest import DEMO_CASE_TYPE


def bodies(records):
    return [json.loads(r.value) for r in records]


async def test_a_case_opened_over_http_is_stored_and_announced(case_api, settings, read_topic):
    response = await case_api.post(
        "/cases",
        json={
            "case_type": "general_enquiry",
            "subject": "Broken streetlight",
            "details": "On Elm St",
            "client": {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.org"},
            "custom": {"ward": "North"},
        },
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "open" and case["active"] is True and case["version"] == 1
    assert case["clients"][0]["display_name"] == "Ada Lovelace"
    assert case["custom"] == {"ward": "North"}
    assert (await case_api.get(f"/cases/{case['id']}")).json() == case

    events = bodies(await read_topic(settings.topic(topics.CASE_EVENTS), expected=1))
    assert [e["type"] for e in events] == ["case.opened"]
    assert events[0]["subject"] == case["id"]
    assert (
        events[0]["data"]["case"]["clients"][0]["email"] == "Ada@example.org"
    )  # domain normalised
    assert events[0]["data"]["changes"]["status"] == {"before": None, "after": "open"}
    contacts = bodies(await read_topic(settings.topic(topics.CONTACT_EVENTS), expected=1))
    assert [c["type"] for c in contacts] == ["contact.created"]

    history = (await case_api.get(f"/cases/{case['id']}/history")).json()
    assert [h["action"] for h in history] == ["case.opened"] and history[0]["actor"] == "tester"


async def test_bad_cases_are_refused_naming_the_field(case_api):
    base = {
        "case_type": "general_enquiry",
        "subject": "x",
        "client": {"first_name": "A", "email": "a@example.org"},
    }
    cases = [
        ({**base, "case_type": "nope"}, 404, None),
        ({**base, "status": "resolved"}, 201, None),  # a closed status of the type is allowed
        ({**base, "status": "unknown"}, 422, ["body", "status"]),
        ({**base, "custom": {"colour": "red"}}, 422, ["body", "custom", "colour"]),
        ({**base, "client": None}, 422, ["body", "client_ids"]),
        ({**base, "client": {"email": "not-an-email"}}, 422, ["body", "client", "email"]),
        ({**base, "subject": ""}, 422, ["body", "subject"]),
    ]
    for body, status, loc in cases:
        response = await case_api.post("/cases", json=body)
        assert response.status_code == status, (body, response.text)
        if loc:
            assert response.json()["detail"][0]["loc"] == loc, response.text


async def test_staff_endpoints_need_a_known_token(case_api):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await case_api.get("/cases", headers={"Authorization": ""} | headers)
        assert response.status_code == 401


async def test_editing_a_case_type_publishes_a_new_version(case_api, settings, read_topic):
    changed = json.loads(json.dumps(DEMO_CASE_TYPE))
    changed["definition"]["activity_sets"][0]["activities"][1]["offset_days"] = 3
    assert (await case_api.put("/case-types/general_enquiry", json=changed)).json()["version"] == 2
    same = await case_api.put("/case-types/general_enquiry", json=changed)
    assert same.status_code == 200 and same.json()["version"] == 2  # unchanged: no new version
    events = bodies(await read_topic(settings.topic(topics.CASETYPE_EVENTS), expected=3, grace_s=2))
    # The unchanged PUT announces version 2 again, for services that joined late.
    assert [e["data"]["version"] for e in events] == [1, 2, 2]


async def test_submissions_become_cases_and_match_contacts_by_email(case_api, settings, read_topic):
    feeder = Runtime(ServiceSettings(**{**settings.model_dump(), "service_name": "test-intake"}))
    await feeder.start()
    first, second = uuid.uuid4(), uuid.uuid4()
    try:
        async with feeder.database.transaction() as tx:
            for sid, email in ((first, "grace@example.org"), (second, " GRACE@example.org ")):
                submission = SubmissionReceived(
                    submission_id=sid,
                    form="contact",
                    case_type="general_enquiry",
                    received_at=datetime.now(UTC),
                    contact={"first_name": "Grace", "last_name": "Hopper", "email": email},
                    case={"subject": f"Question {sid.hex[:4]}", "details": "Hello"},
                )
                envelope = new_envelope(
                    type="intake.submission_received",
                    source="test",
                    subject="grace@example.org",
                    data=submission,
                )
                await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)
                await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)  # again

        async def two_cases():
            page = (await case_api.get("/cases")).json()["items"]
            return page if len(page) >= 2 else None

        cases = await eventually(two_cases, timeout_s=30)
    finally:
        await feeder.stop()
    assert len(cases) == 2
    assert {c["clients"][0]["id"] for c in cases} == {cases[0]["clients"][0]["id"]}  # one contact
    contacts = (await case_api.get("/contacts", params={"email": "grace@EXAMPLE.org"})).json()
    assert len(contacts["items"]) == 1
    events = bodies(await read_topic(settings.topic(topics.CASE_EVENTS), expected=2, grace_s=2))
    assert sorted(e["data"]["origin"]["submission_id"] for e in events) == sorted(
        [str(first), str(second)]
    )
