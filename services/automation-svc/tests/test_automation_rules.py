"""The rules API: validation names the field at fault (including what the other services
must know: templates, statuses, roles, fields); PUT upserts; a dry run changes nothing."""

from __future__ import annotations

import uuid

from casestream.testing.services import STAFF_HEADERS

ACK = {
    "name": "Acknowledge new cases",
    "enabled": False,  # other tests' cases must not fire it
    "trigger": {"event": "case.opened"},
    "conditions": [],
    "actions": [{"type": "send_email", "template": "acknowledgement", "to": ["clients"]}],
}


def _with(**changes):
    return {**ACK, **changes}


async def _refused(service, body) -> list[dict]:
    response = await service.client.post("/rules", json=body, headers=STAFF_HEADERS)
    assert response.status_code == 422, response.text
    return response.json()["detail"]


async def test_an_unknown_trigger_event_is_refused_naming_it(service):
    detail = await _refused(service, _with(trigger={"event": "case.exploded"}))
    assert detail[0]["loc"] == ["body", "trigger", "event"]
    assert "unknown event type" in detail[0]["msg"]


async def test_an_unknown_condition_op_is_refused_naming_it(service):
    body = _with(conditions=[{"field": "case.status", "op": "like", "value": "open"}])
    detail = await _refused(service, body)
    assert detail[0]["loc"] == ["body", "conditions", 0, "op"]


async def test_an_unknown_action_type_is_refused_naming_it(service):
    detail = await _refused(service, _with(actions=[{"type": "launch_rocket"}]))
    assert detail[0]["loc"] == ["body", "actions", 0]
    assert "'launch_rocket'" in detail[0]["msg"] and "'send_email'" in detail[0]["msg"]


async def test_send_email_without_template_or_body_is_refused_naming_the_action(service):
    body = _with(
        actions=[{"type": "add_tag", "tags": ["x"]}, {"type": "send_email", "to": ["clients"]}]
    )
    detail = await _refused(service, body)
    assert detail[0]["loc"] == ["body", "actions", 1, "send_email"]
    assert "needs a template, or a subject and body_text" in detail[0]["msg"]
    body = _with(actions=[{"type": "send_email", "template": "acknowledgement", "to": []}])
    assert (await _refused(service, body))[0]["loc"] == ["body", "actions", 0, "send_email", "to"]


async def test_timing_is_checked(service):
    negative = _with(actions=[{"type": "add_tag", "tags": ["x"], "delay": "-P1D"}])
    assert (await _refused(service, negative))[0]["loc"] == [
        "body",
        "actions",
        0,
        "add_tag",
        "delay",
    ]
    both = _with(
        actions=[
            {"type": "add_tag", "tags": ["x"], "delay": "P1D", "at": {"field": "activity.due_at"}}
        ]
    )
    assert "delay or at, not both" in (await _refused(service, both))[0]["msg"]
    too_often = _with(actions=[{"type": "add_tag", "tags": ["x"], "repeat": {"every": "PT5S"}}])
    detail = await _refused(service, too_often)
    assert detail[0]["loc"][-2:] == ["repeat", "every"]


async def test_names_the_other_services_must_know_are_checked(service):
    """Unknown template (notify-svc), status, role, activity type, custom field (the case
    type in case-svc) and field paths: each refused, naming the field and what is known."""
    body = {
        **ACK,
        "trigger": {"event": "case.opened", "case_type": "general_enquiry"},
        "conditions": [
            {"field": "case.custom.wardd", "op": "eq", "value": "North"},
            {"any": [{"field": "case.statuss", "op": "eq", "value": "open"}]},
            {"field": "weather.today", "op": "eq", "value": "rain"},
        ],
        "cancel_if": [{"field": "activities.fishing.completed", "op": "gt", "value": 0}],
        "actions": [
            {"type": "send_email", "template": "acknowledgment"},
            {"type": "change_status", "status": "on_hold"},
            {"type": "add_role", "role": "lawyer"},
            {"type": "schedule_activity", "activity_type": "fishing"},
            {"type": "send_email", "template": "reminder", "at": {"field": "activity.due"}},
        ],
    }
    detail = {tuple(e["loc"]): e["msg"] for e in await _refused(service, body)}
    assert "unknown custom field 'wardd'" in detail[("body", "conditions", 0, "field")]
    assert "known: priority, ward" in detail[("body", "conditions", 0, "field")]
    assert "unknown field 'case.statuss'" in detail[("body", "conditions", 1, "any", 0, "field")]
    assert "must start with one of case" in detail[("body", "conditions", 2, "field")]
    assert "unknown activity type 'fishing'" in detail[("body", "cancel_if", 0, "field")]
    assert "no template named 'acknowledgment'" in detail[("body", "actions", 0, "template")]
    assert "acknowledgement" in detail[("body", "actions", 0, "template")]
    assert "unknown status 'on_hold'" in detail[("body", "actions", 1, "status")]
    assert "known: in_progress, open, resolved" in detail[("body", "actions", 1, "status")]
    assert "unknown role 'lawyer'" in detail[("body", "actions", 2, "role")]
    assert "unknown activity type 'fishing'" in detail[("body", "actions", 3, "activity_type")]
    assert "unknown field 'activity.due'" in detail[("body", "actions", 4, "at", "field")]
    assert len(detail) == 9

    unknown_type = {**ACK, "trigger": {"event": "case.opened", "case_type": "gardening"}}
    detail = await _refused(service, unknown_type)
    assert detail[0]["loc"] == ["body", "trigger", "case_type"]
    assert "known: general_enquiry" in detail[0]["msg"]


async def test_staff_only(service):
    assert (await service.client.get("/rules")).status_code == 401


async def test_put_with_a_chosen_id_is_an_upsert(service):
    rule_id = str(uuid.uuid4())
    first = await service.client.put(f"/rules/{rule_id}", json=ACK, headers=STAFF_HEADERS)
    assert first.status_code == 201, first.text
    assert first.json()["id"] == rule_id and first.json()["version"] == 1

    again = await service.client.put(f"/rules/{rule_id}", json=ACK, headers=STAFF_HEADERS)
    assert again.status_code == 200 and again.json()["version"] == 1  # nothing changed

    renamed = await service.client.put(
        f"/rules/{rule_id}", json=_with(name="Say hello", enabled=False), headers=STAFF_HEADERS
    )
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 2 and renamed.json()["name"] == "Say hello"
    assert renamed.json()["created_at"] == first.json()["created_at"]

    got = await service.client.get(f"/rules/{rule_id}", headers=STAFF_HEADERS)
    assert got.json()["name"] == "Say hello" and got.json()["enabled"] is False
    listed = await service.client.get("/rules", params={"limit": 500}, headers=STAFF_HEADERS)
    assert [r["id"] for r in listed.json()["items"]].count(rule_id) == 1

    conflict = await service.client.post(
        "/rules", json={**ACK, "id": rule_id}, headers=STAFF_HEADERS
    )
    assert conflict.status_code == 409

    assert (
        await service.client.delete(f"/rules/{rule_id}", headers=STAFF_HEADERS)
    ).status_code == 204
    assert (await service.client.get(f"/rules/{rule_id}", headers=STAFF_HEADERS)).status_code == 404


async def test_rules_are_listed_in_pages(service):
    ids = []
    for n in range(3):
        created = await service.client.post(
            "/rules", json=_with(name=f"r{n}", enabled=False), headers=STAFF_HEADERS
        )
        assert created.status_code == 201
        ids.append(created.json()["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await service.client.get("/rules", params=params, headers=STAFF_HEADERS)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in ids] == ids


async def test_a_dry_run_says_what_would_happen_and_changes_nothing(service):
    rule = {
        **ACK,
        "enabled": True,
        "name": "Escalate high priority",
        "trigger": {"event": "case.opened", "case_type": "general_enquiry"},
        "conditions": [{"field": "case.custom.priority", "op": "eq", "value": "high"}],
        "actions": [
            {"type": "change_status", "status": "in_progress"},
            {"type": "send_email", "template": "follow_up", "delay": "P7D"},
        ],
    }
    created = await service.client.post("/rules", json=rule, headers=STAFF_HEADERS)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    low = service.case_opened(priority="low")
    high = service.case_opened(priority="high")

    async def dry(event) -> dict:
        body = {"event": {"type": event.type, "data": event.data}}
        response = await service.client.post(
            f"/rules/{rule_id}/dry-run", json=body, headers=STAFF_HEADERS
        )
        assert response.status_code == 200, response.text
        return response.json()

    no = await dry(low)
    assert no["would_fire"] is False
    assert no["reasons"] == ["condition does not hold: case.custom.priority eq 'high'"]
    yes = await dry(high)
    assert yes["would_fire"] is True and yes["reasons"] == []
    status, email = yes["actions"]
    assert status["state"] == "now"
    assert status["command"]["topic"] == "case.commands"
    assert status["command"]["type"] == "case.change_status"
    assert status["command"]["data"]["status"] == "in_progress"
    assert status["command"]["data"]["case_id"] == high.data["case"]["id"]
    assert email["state"] == "pending" and email["due_at"] is not None

    # By case id: unknown until its events reached automation-svc.
    unknown = await service.client.post(
        f"/rules/{rule_id}/dry-run", json={"case_id": str(uuid.uuid4())}, headers=STAFF_HEADERS
    )
    assert unknown.status_code == 404

    assert await service.firings(rule_id=rule_id) == []  # nothing was written
    await service.client.delete(f"/rules/{rule_id}", headers=STAFF_HEADERS)
