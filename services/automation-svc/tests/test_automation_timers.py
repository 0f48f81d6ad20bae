"""Delayed and timed actions: durable timers that fire once, on time (never before), on the
case's current state, on a manual clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from casestream import topics
from casestream.contracts.activity import ACTIVITY_COMPLETED, ACTIVITY_SCHEDULED, ACTIVITY_UPDATED
from casestream.contracts.case import CASE_CLOSED, CASE_MERGED, CASE_STATUS_CHANGED, Change
from casestream.testing.factories import activity_state, case_state
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

MINUTE = timedelta(minutes=1)


def _follow_up_rule(marker: str) -> dict:
    """ "7 days after a completed Initial call, email the client", unless the case closed."""
    return {
        "name": f"follow-up {marker}",
        "trigger": {"event": ACTIVITY_COMPLETED, "activity_type": "initial_call"},
        "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
        "actions": [{"type": "send_email", "template": "follow_up", "delay": "P7D"}],
        "cancel_if": [{"field": "case.status_class", "op": "eq", "value": "closed"}],
    }


async def _action_in(service, case_id, state: str) -> dict:
    async def reached():
        found = [a for a in await service.actions_of(case_id) if a["state"] == state]
        return found[0] if found else None

    return await eventually(reached)


async def _timer_marker(service, delay: str) -> uuid.UUID:
    """A case of its own whose email comes due ``delay`` from now: once the clock has moved
    past that and its email is on notify.commands, a timer pass after the move is done."""
    marker = f"timer-marker-{uuid.uuid4()}"
    await service.put_rule(
        {
            "name": marker,
            "trigger": {"event": "case.opened", "case_type": "general_enquiry"},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [{"type": "send_email", "template": "reminder", "delay": delay}],
        }
    )
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    await _action_in(service, case.id, "pending")
    return case.id


async def _no_command_for(service, case_id, marker_id: uuid.UUID) -> None:
    """Nothing on notify.commands about ``case_id`` up to the marker case's email, which a
    timer pass sent after the clock moved (a slow service makes the marker late, not this
    pass)."""
    assert await service.said_until(topics.NOTIFY_COMMANDS, str(marker_id), keys=case_id) == []


async def test_the_seven_day_follow_up_waits_fires_once_and_is_cancelled_by_closing(service):
    marker = f"follow-up-{uuid.uuid4()}"
    await service.put_rule(_follow_up_rule(marker))
    kept, closed = case_state(subject=marker), case_state(subject=marker)
    for case in (kept, closed):
        await service.deliver_event(service.case_event(case))
        completed = activity_state(case.id, status="completed")
        await service.deliver_event(service.activity_event(completed, ACTIVITY_COMPLETED), times=2)
    called_at = service.clock.now()
    pending = await _action_in(service, kept.id, "pending")
    assert pending["due_at"] == (called_at + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    await _action_in(service, closed.id, "pending")

    # Case two closes meanwhile (case-svc says so); case one stays open.
    closing = case_state(
        id=closed.id, subject=marker, status="resolved", status_class="closed", version=2
    )
    await service.deliver_event(service.case_event(closing, CASE_CLOSED))
    await asyncio.sleep(1)

    marker_id = await _timer_marker(service, "P6D")
    service.clock.advance(timedelta(days=7) - MINUTE)  # not yet: never before its time
    await _no_command_for(service, kept.id, marker_id)
    assert (await _action_in(service, kept.id, "pending"))["executed_at"] is None

    service.clock.advance(2 * MINUTE)
    done = await _action_in(service, kept.id, "done")
    [command] = await service.said(topics.NOTIFY_COMMANDS, kept.id, expected=1)
    assert command["id"] == done["id"] == done["command_id"]
    assert command["data"]["template"] == "follow_up"
    cancelled = await _action_in(service, closed.id, "cancelled")
    assert cancelled["error"] == "cancel_if holds: case.status_class eq 'closed'"
    # Both came due in one pass: with the kept case's email here, the closed one's would be.
    closed_emails = await service.said_until(topics.NOTIFY_COMMANDS, str(kept.id), keys=closed.id)
    assert closed_emails == []


async def test_a_reminder_follows_its_activity_when_rescheduled(service):
    marker = f"reminder-{uuid.uuid4()}"
    rule_id = await service.put_rule(
        {
            "name": "reminder",
            "trigger": {"event": ACTIVITY_SCHEDULED, "activity_type": "meeting"},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [
                {
                    "type": "send_email",
                    "template": "reminder",
                    "at": {"field": "activity.due_at", "offset": "-P1D"},
                }
            ],
            "cancel_if": [{"field": "activity.status", "op": "ne", "value": "scheduled"}],
        }
    )
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    start = service.clock.now()
    meeting = activity_state(case.id, "meeting", due_at=start + timedelta(days=3))
    await service.deliver_event(service.activity_event(meeting, ACTIVITY_SCHEDULED))
    pending = await _action_in(service, case.id, "pending")
    assert pending["due_at"].startswith((start + timedelta(days=2)).date().isoformat())
    tried = await service.client.post(
        f"/rules/{rule_id}/dry-run", json={"activity_id": str(meeting.id)}, headers=STAFF_HEADERS
    )
    assert tried.json()["would_fire"] is True, tried.text
    assert tried.json()["actions"][0]["due_at"] == pending["due_at"]

    later = meeting.model_copy(
        update={"due_at": start + timedelta(days=5), "updated_at": meeting.updated_at + MINUTE}
    )
    await service.deliver_event(service.activity_event(later, ACTIVITY_UPDATED))

    async def moved():
        action = await _action_in(service, case.id, "pending")
        return action["due_at"].startswith((start + timedelta(days=4)).date().isoformat())

    await eventually(moved)
    marker_id = await _timer_marker(service, "P2DT12H")
    service.clock.advance(timedelta(days=3))  # the old reminder time has passed
    await _no_command_for(service, case.id, marker_id)
    service.clock.advance(timedelta(days=1) + MINUTE)
    await _action_in(service, case.id, "done")
    [reminder] = await service.said(topics.NOTIFY_COMMANDS, case.id, expected=1)
    assert reminder["data"]["activity"]["id"] == str(meeting.id)  # for {{ activity.* }}


async def test_a_repeat_runs_until_its_condition_holds(service):
    marker = f"repeat-{uuid.uuid4()}"
    await service.put_rule(
        {
            "name": "chase",
            "trigger": {"event": "case.opened", "case_type": "general_enquiry"},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [
                {
                    "type": "send_email",
                    "template": "reminder",
                    "repeat": {
                        "every": "P1D",
                        "max_times": 5,
                        "until": [{"field": "case.status", "op": "eq", "value": "resolved"}],
                    },
                }
            ],
        }
    )
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    await _action_in(service, case.id, "done")  # the first at once
    service.clock.advance(timedelta(days=1) + MINUTE)

    async def two_done():
        done = [a for a in await service.actions_of(case.id) if a["state"] == "done"]
        return len(done) == 2

    await eventually(two_done)
    resolved = case_state(id=case.id, subject=marker, status="resolved", version=2)
    changes = {"status": Change(before="open", after="resolved")}
    await service.deliver_event(service.case_event(resolved, CASE_STATUS_CHANGED, changes))
    await asyncio.sleep(1)
    service.clock.advance(timedelta(days=1))
    ended = await _action_in(service, case.id, "cancelled")
    assert ended["occurrence"] == 2
    assert ended["error"] == "repeat ended, until holds: case.status eq 'resolved'"
    emails = await service.said(
        topics.NOTIFY_COMMANDS, case.id, expected=2
    )  # and a second more: a third would show
    assert len(emails) == 2 and len({e["id"] for e in emails}) == 2


async def test_merging_a_case_disabling_or_changing_the_rule(service):
    """A merged case cancels its waiting actions at once; a disabled rule's come due
    cancelled; a changed rule leaves the timers it already set as they were."""
    marker = f"lifecycle-{uuid.uuid4()}"
    rule = {
        "name": "later",
        "trigger": {"event": "case.opened", "case_type": "general_enquiry"},
        "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
        "actions": [{"type": "send_email", "template": "follow_up", "delay": "P2D"}],
    }
    rule_id = await service.put_rule(rule)
    merged, changed = case_state(subject=marker), case_state(subject=marker)
    for case in (merged, changed):
        await service.deliver_event(service.case_event(case))
        await _action_in(service, case.id, "pending")

    survivor = uuid.uuid4()
    gone = case_state(
        id=merged.id, subject=marker, status_class="closed", merged_into=survivor, version=2
    )
    await service.deliver_event(service.case_event(gone, CASE_MERGED))
    cancelled = await _action_in(service, merged.id, "cancelled")
    assert cancelled["error"] == f"the case was merged into {survivor}"

    edited = {**rule, "actions": [{"type": "send_email", "template": "reminder", "delay": "P9D"}]}
    response = await service.client.put(f"/rules/{rule_id}", json=edited, headers=STAFF_HEADERS)
    assert response.json()["version"] == 2
    service.clock.advance(timedelta(days=2) + MINUTE)
    [email] = await service.said(topics.NOTIFY_COMMANDS, changed.id, expected=1)
    assert email["data"]["template"] == "follow_up"  # as fired, by version 1

    third = case_state(subject=marker)
    await service.deliver_event(service.case_event(third))
    await _action_in(service, third.id, "pending")
    disabled = {**edited, "enabled": False}
    await service.client.put(f"/rules/{rule_id}", json=disabled, headers=STAFF_HEADERS)
    marker_id = await _timer_marker(service, "P8D")
    service.clock.advance(timedelta(days=9) + MINUTE)
    stopped = await _action_in(service, third.id, "cancelled")
    assert stopped["error"] == "the rule is disabled or deleted"
    await _no_command_for(service, third.id, marker_id)
