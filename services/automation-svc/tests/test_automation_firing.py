"""Case events fire the rules they match, once each, and become notify.send_email commands."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from automation_svc.firing import fire_rules, firing_id_for
from casestream.contracts.notify import SEND_EMAIL
from casestream.persistence.tables import outbox
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS


def _rule(name, case_type=None, conditions=(), actions=None):
    trigger = {"event": "case.opened", **({"case_type": case_type} if case_type else {})}
    return {
        "name": name,
        "enabled": True,
        "trigger": trigger,
        "conditions": list(conditions),
        "actions": actions or [{"type": "send_email", "template": name, "to": ["clients"]}],
    }


async def _put(service, rule) -> str:
    rule_id = str(uuid.uuid4())
    response = await service.client.put(f"/rules/{rule_id}", json=rule, headers=STAFF_HEADERS)
    assert response.status_code == 201, response.text
    return rule_id


async def _firings(service, **params) -> list[dict]:
    response = await service.client.get("/firings", params=params, headers=STAFF_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_case_opening_fires_once_however_often_it_is_delivered(service):
    ack = await _put(service, _rule("acknowledgement", case_type="general_enquiry"))
    other = await _put(service, _rule("complaint_received", case_type="complaint"))
    event = service.case_opened("general_enquiry")
    case_id = event.data.case.id

    await service.deliver(event, times=3)

    commands = await service.commands(case_id, expected=1)
    assert len(commands) == 1
    command = commands[0]
    action_id = str(uuid.uuid5(firing_id_for(uuid.UUID(ack), event.id), "0"))
    assert command["type"] == SEND_EMAIL
    assert command["id"] == command["data"]["notification_id"] == action_id
    assert command["subject"] == str(case_id)
    assert command["data"]["case_id"] == str(case_id)
    assert command["data"]["template"] == "acknowledgement"
    assert command["data"]["to"] == ["clients"]
    assert command["correlation_id"] == event.correlation_id
    assert command["causation_id"] == str(event.id)

    fired = await _firings(service, case_id=str(case_id))
    assert [(f["rule_id"], f["event_id"], f["rule_version"]) for f in fired] == [
        (ack, str(event.id), 1)
    ]
    assert [(a["type"], a["state"], a["command_id"]) for a in fired[0]["actions"]] == [
        ("send_email", "done", action_id)
    ]
    assert await _firings(service, rule_id=other) == []

    # Even past the inbox (a replay after its ids were pruned), the firing key holds.
    runtime = service.app.state.runtime
    async with runtime.database.transaction() as tx:
        again = await fire_rules(
            tx,
            service.settings,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            case_id=case_id,
            facts=event.data.model_dump(mode="json"),
        )
    assert again == []
    async with runtime.database.session() as session:
        rows = await session.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.key == str(case_id))
        )
        assert rows.scalar() == 1


async def test_conditions_choose_the_events_and_unsupported_actions_are_logged_failed(service):
    rule = _rule(
        "urgent",
        case_type="urgent_type",
        conditions=[
            {"field": "case.custom.priority", "op": "eq", "value": "high"},
            {"field": "case.status", "op": "in", "value": ["open", "in_progress"]},
        ],
        actions=[
            {"type": "add_tag", "tag": "urgent"},
            {"type": "send_email", "subject": "Reminder", "body_text": "Hi", "delay": "P7D"},
            {
                "type": "send_email",
                "subject": "Urgent: {{ case.subject }}",
                "body_text": "Soon",
                "to": ["clients", "duty@example.org"],
            },
        ],
    )
    rule_id = await _put(service, rule)
    calm, urgent = (
        service.case_opened("urgent_type", priority="low"),
        service.case_opened("urgent_type", priority="high"),
    )
    await service.deliver(calm)
    await service.deliver(urgent)

    async def urgent_fired():
        return await _firings(service, rule_id=rule_id)

    fired = await eventually(urgent_fired)
    assert [f["case_id"] for f in fired] == [str(urgent.data.case.id)]
    tag, later, now = fired[0]["actions"]
    assert (tag["state"], tag["error"]) == ("failed", "not supported yet")
    assert later["state"] == "pending" and later["command_id"] is None
    assert later["due_at"].startswith((urgent.occurred_at + timedelta(days=7)).date().isoformat())
    assert now["state"] == "done"

    commands = await service.commands(urgent.data.case.id, expected=1)
    assert [c["data"]["subject"] for c in commands] == ["Urgent: {{ case.subject }}"]
    assert commands[0]["data"]["to"] == ["clients", "duty@example.org"]
    assert await _firings(service, case_id=str(calm.data.case.id)) == []
