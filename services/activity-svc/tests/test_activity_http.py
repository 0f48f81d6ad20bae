"""Staff HTTP: tokens, activity types, recording an activity by hand."""

from __future__ import annotations

import uuid

from casestream import topics
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS


async def test_staff_endpoints_refuse_a_missing_or_unknown_token(service):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        assert (await service.client.get("/activity-types", headers=headers)).status_code == 401
        answer = await service.client.get(f"/cases/{uuid.uuid4()}/activities", headers=headers)
        assert answer.status_code == 401
    refused = await service.client.post("/activity-types", json={"name": "x", "label": "X"})
    assert refused.status_code == 401


async def test_an_activity_type_is_created_once(service):
    name = f"site_visit_{uuid.uuid4().hex[:6]}"
    body = {"name": name, "label": "Site visit"}
    first = await service.client.post("/activity-types", json=body, headers=STAFF_HEADERS)
    again = await service.client.post("/activity-types", json=body, headers=STAFF_HEADERS)
    assert first.status_code == 201
    assert first.json() == {"name": name, "label": "Site visit", "system": False}
    assert again.status_code == 409
    listed = (await service.client.get("/activity-types", headers=STAFF_HEADERS)).json()
    assert {"name": name, "label": "Site visit", "system": False} in listed
    # The types the service relies on exist from the start, so the demo's POST of them is done.
    assert {t["name"] for t in listed if t["system"]} >= {"email", "open_case", "follow_up_call"}
    email = {"name": "email", "label": "Email"}
    assert (
        await service.client.post("/activity-types", json=email, headers=STAFF_HEADERS)
    ).status_code == 409


async def test_a_bad_activity_type_names_the_field(service):
    answer = await service.client.post(
        "/activity-types", json={"name": "Has Spaces"}, headers=STAFF_HEADERS
    )
    assert answer.status_code == 422
    assert {tuple(e["loc"]) for e in answer.json()["detail"]} == {
        ("body", "name"),
        ("body", "label"),
    }


async def test_an_activity_recorded_by_hand_is_on_the_case_and_announced(service):
    case_id = str(uuid.uuid4())
    contact = str(uuid.uuid4())
    body = {
        "case_id": case_id,
        "type": "follow_up_call",
        "subject": "Call back",
        "due_at": "2025-05-02T10:00:00+02:00",
        "duration_minutes": 15,
        "assignee_ids": ["alice"],
        "with_contact_ids": [contact],
    }
    created = await service.client.post("/activities", json=body, headers=STAFF_HEADERS)
    assert created.status_code == 201
    activity = created.json()
    assert activity["status"] == "scheduled" and activity["type_label"] == "Follow up call"
    assert activity["due_at"].startswith("2025-05-02T08:00:00")
    assert activity["with_contact_ids"] == [contact] and activity["duration_minutes"] == 15

    fetched = await service.client.get(f"/activities/{activity['id']}", headers=STAFF_HEADERS)
    assert fetched.json() == activity
    timeline = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
    assert [a["id"] for a in timeline.json()["items"]] == [activity["id"]]
    said = await service.said(topics.ACTIVITY_EVENTS, case_id, expected=1)
    assert [(m["type"], m["data"]["activity"]["id"]) for m in said] == [
        ("activity.scheduled", activity["id"])
    ]


async def test_an_activity_of_an_unknown_type_or_without_offset_is_refused(service):
    unknown = await service.client.post(
        "/activities", json={"type": "no_such_type"}, headers=STAFF_HEADERS
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "type"]
    naive = await service.client.post(
        "/activities",
        json={"type": "email", "due_at": "2025-05-02T10:00:00"},
        headers=STAFF_HEADERS,
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "due_at"]


async def test_an_unknown_activity_is_404(service):
    answer = await service.client.get(f"/activities/{uuid.uuid4()}", headers=STAFF_HEADERS)
    assert answer.status_code == 404


async def test_a_completed_activity_gets_its_time(service):
    case_id = str(uuid.uuid4())
    created = await service.client.post(
        "/activities",
        json={"case_id": case_id, "type": "email", "status": "completed", "outcome": "pleased"},
        headers=STAFF_HEADERS,
    )
    assert created.status_code == 201
    assert created.json()["occurred_at"] is not None
    said = await eventually(
        lambda: service.said(topics.ACTIVITY_EVENTS, case_id, expected=1), timeout_s=20
    )
    assert said[0]["type"] == "activity.completed"
    assert said[0]["data"]["activity"]["outcome"] == "pleased"


async def test_the_asyncapi_document_names_what_it_hears_and_says(service):
    answer = await service.client.get("/asyncapi.json")
    assert answer.status_code == 200
    channels = " ".join(answer.json()["channels"])
    for topic in ("casetype.events", "case.events", "notify.events", "activity.events"):
        assert topic in channels
    # activity.commands' payload is typed: one model per command type.
    schemas = answer.json()["components"]["schemas"]
    assert {"ScheduleActivity", "CompleteActivity", "CancelActivity", "NewActivity"} <= set(schemas)
    by_type = {
        case["if"]["properties"]["type"]["const"]: case["then"]["properties"]["data"]["$ref"]
        for case in schemas["ActivityCommandEnvelope"]["allOf"]
    }
    assert by_type["activity.schedule"].endswith("/ScheduleActivity")
