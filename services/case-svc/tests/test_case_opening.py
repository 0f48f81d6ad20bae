"""Opening cases through HTTP and from web form submissions, with the events they cause.

On the session's service: each test has clients (emails) and case types of its own, and
reads only the events about its cases, contacts and case types."""

import json
import uuid
from datetime import UTC, datetime

from casestream import topics
from casestream.contracts.intake import SubmissionReceived
from casestream.envelope import new_envelope
from casestream.testing.plugin import eventually

from .conftest import DEMO_CASE_TYPE, unique


async def test_a_case_opened_over_http_is_stored_and_announced(service):
    api, who = service.client, unique("ada")
    response = await api.post(
        "/cases",
        json={
            "case_type": "general_enquiry",
            "subject": "Broken streetlight",
            "details": "On Elm St",
            "client": {"first_name": "Ada", "last_name": "Lovelace", "email": f"{who}@Example.org"},
            "custom": {"ward": "North"},
        },
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "open" and case["active"] is True and case["version"] == 1
    assert case["clients"][0]["display_name"] == "Ada Lovelace"
    assert case["custom"] == {"ward": "North"}
    assert (await api.get(f"/cases/{case['id']}")).json() == case

    events = await service.said(topics.CASE_EVENTS, case["id"], expected=1)
    assert [e["type"] for e in events] == ["case.opened"]
    assert events[0]["subject"] == case["id"]
    assert events[0]["data"]["case"]["clients"][0]["email"] == f"{who}@example.org"  # domain
    assert events[0]["data"]["changes"]["status"] == {"before": None, "after": "open"}
    contact_id = case["clients"][0]["id"]
    contacts = await service.said(topics.CONTACT_EVENTS, contact_id, expected=1)
    assert [c["type"] for c in contacts] == ["contact.created"]

    history = (await api.get(f"/cases/{case['id']}/history")).json()
    assert [h["action"] for h in history] == ["case.opened"] and history[0]["actor"] == "tester"


async def test_bad_cases_are_refused_naming_the_field(service):
    base = {
        "case_type": "general_enquiry",
        "subject": "x",
        "client": {"first_name": "A", "email": f"{unique('a')}@example.org"},
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
        response = await service.client.post("/cases", json=body)
        assert response.status_code == status, (body, response.text)
        if loc:
            assert response.json()["detail"][0]["loc"] == loc, response.text


async def test_staff_endpoints_need_a_known_token(service):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await service.client.get("/cases", headers={"Authorization": ""} | headers)
        assert response.status_code == 401


async def test_editing_a_case_type_publishes_a_new_version(service):
    api, name = service.client, unique("enquiry")
    assert (await api.put(f"/case-types/{name}", json=DEMO_CASE_TYPE)).json()["version"] == 1
    changed = json.loads(json.dumps(DEMO_CASE_TYPE))
    changed["definition"]["activity_sets"][0]["activities"][1]["offset_days"] = 3
    assert (await api.put(f"/case-types/{name}", json=changed)).json()["version"] == 2
    same = await api.put(f"/case-types/{name}", json=changed)
    assert same.status_code == 200 and same.json()["version"] == 2  # unchanged: no new version
    events = await service.said(topics.CASETYPE_EVENTS, name, expected=3, grace_s=2)
    # The unchanged PUT announces version 2 again, for services that joined late.
    assert [e["data"]["version"] for e in events] == [1, 2, 2]
    assert {e["data"]["name"] for e in events} == {name}


async def test_submissions_become_cases_and_match_contacts_by_email(service):
    api, grace = service.client, unique("grace")
    case_type = unique("enquiry")
    assert (await api.put(f"/case-types/{case_type}", json=DEMO_CASE_TYPE)).status_code == 201
    first, second = uuid.uuid4(), uuid.uuid4()
    # Put on intake.submissions through case-svc's outbox, as intake-svc's would.
    async with service.database.transaction() as tx:
        for sid, email in (
            (first, f"{grace}@example.org"),
            (second, f" {grace.upper()}@example.org "),
        ):
            submission = SubmissionReceived(
                submission_id=sid,
                form="contact",
                case_type=case_type,
                received_at=datetime.now(UTC),
                contact={"first_name": "Grace", "last_name": "Hopper", "email": email},
                case={"subject": f"Question {sid.hex[:4]}", "details": "Hello"},
            )
            envelope = new_envelope(
                type="intake.submission_received",
                source="test",
                subject=f"{grace}@example.org",
                data=submission,
            )
            await tx.publish(service.topic(topics.INTAKE_SUBMISSIONS), envelope)
            await tx.publish(service.topic(topics.INTAKE_SUBMISSIONS), envelope)  # again

    async def two_cases():
        page = (await api.get("/cases", params={"case_type": case_type})).json()["items"]
        return page if len(page) >= 2 else None

    cases = await eventually(two_cases, timeout_s=30)
    assert len(cases) == 2
    assert {c["clients"][0]["id"] for c in cases} == {cases[0]["clients"][0]["id"]}  # one contact
    contacts = (await api.get("/contacts", params={"email": f"{grace}@EXAMPLE.org"})).json()
    assert len(contacts["items"]) == 1

    sids = {str(first), str(second)}

    def from_these(record) -> bool:
        origin = json.loads(record.value)["data"].get("origin") or {}
        return origin.get("submission_id") in sids

    # Every case event from these submissions, whatever case it is about (a duplicate
    # handled twice would open a third case): two, and no more within the grace.
    events = await service.said(topics.CASE_EVENTS, None, expected=2, grace_s=2, match=from_these)
    assert sorted(e["data"]["origin"]["submission_id"] for e in events) == sorted(sids)
    assert {e["subject"] for e in events} == {c["id"] for c in cases}
    again = (await api.get("/cases", params={"case_type": case_type})).json()["items"]
    assert len(again) == 2
