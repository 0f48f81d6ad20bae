"""Events fire the rules they match, once each, and each action becomes one command with the
action's id on the owning service's topic."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from automation_svc.firing import Event, fire_rules, firing_id_for
from casestream import topics
from casestream.contracts.activity import ACTIVITY_COMPLETED, SCHEDULE_ACTIVITY
from casestream.contracts.case import (
    ADD_CASE_ROLE,
    ADD_CASE_TAGS,
    ASSIGN_CASE,
    CASE_STATUS_CHANGED,
    CASE_UPDATED,
    CHANGE_CASE_STATUS,
    CaseState,
    Change,
)
from casestream.contracts.notify import (
    EMAIL_FAILED,
    EMAIL_SUPPRESSED,
    SEND_EMAIL,
    EmailEvent,
    EmailState,
)
from casestream.envelope import new_envelope
from casestream.persistence.tables import outbox
from casestream.testing.factories import activity_state, case_state
from casestream.testing.plugin import eventually


async def put_marked_rule(service, marker: str, actions, trigger=None, conditions=()) -> str:
    """Put a rule only the case whose subject is ``marker`` can fire (tests share one
    service); its id."""
    return await service.put_rule(
        {
            "name": marker,
            "trigger": trigger or {"event": "case.opened", "case_type": "general_enquiry"},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}, *conditions],
            "actions": actions,
        }
    )


async def opened_under_rule(service, actions) -> CaseState:
    """A new case, its opening delivered, under a rule of ``actions`` that only it fires."""
    marker = f"rule-{uuid.uuid4()}"
    await put_marked_rule(service, marker, actions)
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    return case


async def test_a_case_opening_fires_once_however_often_it_is_delivered(service):
    marker = f"ack-{uuid.uuid4()}"
    ack = await put_marked_rule(
        service, marker, [{"type": "send_email", "template": "acknowledgement"}]
    )
    event = service.case_event(case_state(subject=marker))
    case_id = event.data["case"]["id"]

    await service.deliver_event(event, times=3)

    commands = await service.said(topics.NOTIFY_COMMANDS, case_id, expected=1)
    assert len(commands) == 1
    command = commands[0]
    action_id = str(uuid.uuid5(firing_id_for(uuid.UUID(ack), event.id), "0"))
    assert command["type"] == SEND_EMAIL
    assert command["id"] == command["data"]["notification_id"] == action_id
    assert command["subject"] == case_id
    assert command["data"]["template"] == "acknowledgement"
    assert command["data"]["to"] == ["clients"]
    assert command["correlation_id"] == event.correlation_id
    assert command["causation_id"] == str(event.id)

    fired = await service.firings(case_id=case_id)
    assert [(f["rule_id"], f["event_id"], f["rule_version"]) for f in fired] == [
        (ack, str(event.id), 1)
    ]
    assert [(a["type"], a["state"], a["command_id"]) for a in fired[0]["actions"]] == [
        ("send_email", "done", action_id)
    ]

    # Even past the inbox (a replay after its ids were pruned), the firing key holds.
    runtime = service.app.state.runtime
    async with runtime.database.transaction() as tx:
        again = await fire_rules(
            tx,
            service.settings,
            Event(event.id, event.type, event.occurred_at, uuid.UUID(case_id), event.data),
            now=service.clock.now(),
        )
    assert again.firings == []
    async with runtime.database.session() as session:
        count = await session.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.key == case_id)
        )
        assert count.scalar() == 1


async def test_each_action_type_sends_its_command_to_the_owning_service(service):
    case = await opened_under_rule(
        service,
        [
            {"type": "change_status", "status": "in_progress"},
            {"type": "assign", "user": "casey"},
            {"type": "add_role", "role": "advocate"},
            {"type": "add_tag", "tags": ["urgent"]},
            {"type": "schedule_activity", "activity_type": "follow_up_call", "due_in": "P2D"},
            {"type": "send_email", "template": "acknowledgement", "to": ["assignee"]},
        ],
    )

    case_commands = await service.said(topics.CASE_COMMANDS, case.id, expected=4)
    by_type = {c["type"]: c["data"] for c in case_commands}
    assert list(by_type) == [CHANGE_CASE_STATUS, ASSIGN_CASE, ADD_CASE_ROLE, ADD_CASE_TAGS]
    assert by_type[CHANGE_CASE_STATUS]["status"] == "in_progress"
    assert by_type[ASSIGN_CASE]["user"] == "casey"
    assert by_type[ADD_CASE_ROLE]["role"] == "advocate"
    assert by_type[ADD_CASE_ROLE]["contact_id"] == str(case.clients[0].id)
    assert by_type[ADD_CASE_TAGS]["tags"] == ["urgent"]
    assert all(
        d["case_id"] == str(case.id) and d["actor"].startswith("rule:") for d in by_type.values()
    )

    [schedule] = await service.said(topics.ACTIVITY_COMMANDS, case.id, expected=1)
    assert schedule["type"] == SCHEDULE_ACTIVITY
    activity = schedule["data"]["activity"]
    assert activity["type"] == "follow_up_call" and activity["case_id"] == str(case.id)
    due = datetime.fromisoformat(activity["due_at"])
    assert due == service.clock.now() + timedelta(days=2)  # the clock has not moved since
    [email] = await service.said(topics.NOTIFY_COMMANDS, case.id, expected=1)
    assert email["data"]["to"] == ["assignee"]

    actions = await service.actions_of(case.id)
    assert [a["state"] for a in actions] == ["done"] * 6
    ids = [a["id"] for a in actions]
    assert [c["id"] for c in case_commands] + [schedule["id"], email["id"]] == ids


async def test_groups_changes_and_derived_triggers_choose_the_events(service):
    marker = f"conditions-{uuid.uuid4()}"
    grouped = await put_marked_rule(
        service,
        marker,
        [{"type": "add_tag", "tags": ["resolved-or-high"]}],
        trigger={"event": "case.status_changed"},
        conditions=[
            {
                "any": [
                    {"field": "case.status", "op": "changed_to", "value": "resolved"},
                    {"field": "case.custom.priority", "op": "eq", "value": "high"},
                ]
            }
        ],
    )
    ward = await put_marked_rule(
        service,
        marker,
        [{"type": "add_tag", "tags": ["ward-changed"]}],
        trigger={"event": "case.custom_field_changed", "field": "ward"},
    )
    called = await put_marked_rule(
        service,
        marker,
        [{"type": "add_tag", "tags": ["called"]}],
        trigger={"event": ACTIVITY_COMPLETED, "activity_type": "initial_call"},
    )
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    status = lambda before, after: {"status": Change(before=before, after=after)}  # noqa: E731
    custom = lambda before, after: {"custom": Change(before=before, after=after)}  # noqa: E731
    for event in (
        service.case_event(case, CASE_STATUS_CHANGED, status("open", "in_progress")),  # no
        service.case_event(case, CASE_STATUS_CHANGED, status("open", "resolved")),  # yes
        service.case_event(case, CASE_UPDATED, custom({"priority": "low"}, {"priority": "high"})),
        service.case_event(case, CASE_UPDATED, custom({"ward": "N"}, {"ward": "S"})),  # yes
        service.activity_event(activity_state(case.id, "meeting"), ACTIVITY_COMPLETED),  # no
        service.activity_event(activity_state(case.id), ACTIVITY_COMPLETED),  # yes
    ):
        await service.deliver_event(event)

    async def three_firings():
        fired = await service.firings(case_id=str(case.id))
        return fired if len(fired) >= 3 else None

    fired = await eventually(three_firings)
    assert sorted(f["rule_id"] for f in fired) == sorted([grouped, ward, called])
    tags = await service.said(topics.CASE_COMMANDS, case.id, expected=3)
    assert sorted(t["data"]["tags"][0] for t in tags) == [
        "called",
        "resolved-or-high",
        "ward-changed",
    ]


async def test_an_email_that_fails_or_is_suppressed_marks_its_action(service):
    case = await opened_under_rule(
        service,
        [
            {"type": "send_email", "template": "acknowledgement"},
            {"type": "send_email", "template": "follow_up"},
        ],
    )
    first, second = await service.said(topics.NOTIFY_COMMANDS, case.id, expected=2)

    def outcome(command, event_type, status, error):
        email = EmailState(
            id=uuid.uuid4(),
            notification_id=command["data"]["notification_id"],
            case_id=case.id,
            to=["ada@example.org"],
            subject="s",
            status=status,
            message_id="<m@casestream>",
            last_error=error,
        )
        return new_envelope(
            type=event_type, source="notify-svc", subject=str(case.id), data=EmailEvent(email=email)
        )

    await service.deliver_event(
        outcome(first, EMAIL_FAILED, "failed", "550 mailbox unavailable"), times=2
    )
    await service.deliver_event(outcome(second, EMAIL_SUPPRESSED, "suppressed", None))

    async def both_known():
        states = [(a["state"], a["error"]) for a in await service.actions_of(case.id)]
        return states if all(s != "done" for s, _ in states) else None

    assert await eventually(both_known) == [
        ("failed", "email failed: 550 mailbox unavailable"),
        ("cancelled", "email suppressed: do not email"),
    ]
