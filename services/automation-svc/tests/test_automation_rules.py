"""The rules API: validation names the field at fault; PUT with a client-chosen id upserts."""

from __future__ import annotations

import uuid

from casestream.testing.services import STAFF_HEADERS

ACK = {
    "name": "Acknowledge new cases",
    "enabled": True,
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
    assert detail[0]["loc"] == ["body", "actions", 0, "type"]


async def test_send_email_without_template_or_body_is_refused_naming_the_field(service):
    body = _with(
        actions=[{"type": "add_tag", "tag": "x"}, {"type": "send_email", "to": ["clients"]}]
    )
    detail = await _refused(service, body)
    assert detail[0]["loc"] == ["body", "actions", 1, "template"]
    body = _with(actions=[{"type": "send_email", "subject": "Hello"}])
    assert (await _refused(service, body))[0]["loc"] == ["body", "actions", 0, "body_text"]
    body = _with(actions=[{"type": "send_email", "template": "ack", "to": []}])
    assert (await _refused(service, body))[0]["loc"] == ["body", "actions", 0, "to"]


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
