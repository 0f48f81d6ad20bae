"""A command whose outcome never comes (it, or its answer, was lost on the way) is sent again:
an email as a message of its own with the same notification id, a case or activity command
under its own id again (its receiver knows it by that id). No more once the outcome comes
(the event it caused, or the case showing what it asked for), or once it was sent
``redrive_max_attempts`` times."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from automation_svc.actions import action_id_for, effect_shows
from automation_svc.config import Settings
from automation_svc.firing import firing_id_for
from automation_svc.redrive import message_id
from automation_svc.tables import awaited_commands
from casestream import topics
from casestream.contracts.activity import ACTIVITY_SCHEDULED
from casestream.contracts.case import (
    ADD_CASE_ROLE,
    ADD_CASE_TAGS,
    ASSIGN_CASE,
    CASE_UPDATED,
    CHANGE_CASE_STATUS,
    CaseState,
)
from casestream.contracts.notify import EMAIL_SENT, EmailEvent, EmailState
from casestream.envelope import Envelope, new_envelope
from casestream.persistence.tables import outbox
from casestream.testing.factories import activity_state, case_state
from casestream.testing.harness import body, service_fixture
from casestream.testing.plugin import eventually

from .conftest import MIGRATIONS, AutomationService, manual_clock_app
from .test_automation_firing import put_marked_rule

MAX_ATTEMPTS = 5

# Sent again one second after the last sending when no outcome has come.
redriving = service_fixture(
    manual_clock_app,
    Settings,
    MIGRATIONS,
    harness=AutomationService,
    name="automation",
    scope="module",
    ready=AutomationService.teach,
    redrive_after_s=1.0,
    redrive_interval_s=0.2,
    redrive_max_attempts=MAX_ATTEMPTS,
)


async def fired(service: AutomationService, actions: list[dict]) -> tuple[CaseState, list]:
    """A new case opened under a rule of ``actions`` that only it fires; its action ids (the
    ids of their commands)."""
    marker = f"redrive-{uuid.uuid4()}"
    rule_id = await put_marked_rule(service, marker, actions)
    case = case_state(subject=marker)
    event = service.case_event(case)
    await service.deliver_event(event)
    firing_id = firing_id_for(uuid.UUID(rule_id), event.id)
    return case, [action_id_for(firing_id, index) for index in range(len(actions))]


async def test_an_email_nobody_answered_is_sent_again_as_a_message_of_its_own_until_its_fate_comes(
    redriving,
):
    case, [action] = await fired(redriving, [{"type": "send_email", "template": "follow_up"}])

    # Nothing answers here (no notify-svc): the command, then again under an id of its own.
    first, again = (await redriving.said(topics.NOTIFY_COMMANDS, case.id, 2, grace_s=0))[:2]
    assert (first["id"], again["id"]) == (str(action), str(message_id(action, 2)))
    assert _but_id(again) == _but_id(first)  # the same command: one email per notification id
    assert again["data"]["notification_id"] == str(action)

    # notify-svc says the email went: it is sent no more.
    await redriving.deliver_event(_email_sent(case, action))
    await eventually(lambda: _not_awaited(redriving, action))
    so_far = await _sent(redriving, topics.NOTIFY_COMMANDS, case.id)
    assert so_far < MAX_ATTEMPTS  # stopped by its outcome, not given up
    on_the_broker = await _said_until_two_passes_later(redriving, case.id)
    assert len(on_the_broker) == so_far == await _sent(redriving, topics.NOTIFY_COMMANDS, case.id)


async def test_case_and_activity_commands_are_sent_again_under_their_own_id_until_answered(
    redriving,
):
    case, [tag, follow_up] = await fired(
        redriving,
        [
            {"type": "add_tag", "tags": ["vip"]},
            {"type": "schedule_activity", "activity_type": "follow_up_call", "due_in": "P2D"},
        ],
    )
    for topic, action in ((topics.CASE_COMMANDS, tag), (topics.ACTIVITY_COMMANDS, follow_up)):
        first, again = (await redriving.said(topic, case.id, 2, grace_s=0))[:2]
        # Its receiver's inbox drops it if the first came: no second tag, no second activity.
        assert first == again and first["id"] == str(action)

    # activity-svc answers: the activity it scheduled, caused by the command.
    scheduled = activity_state(case.id, "follow_up_call", source=f"command:{follow_up}")
    answer = redriving.activity_event(scheduled, ACTIVITY_SCHEDULED)
    await redriving.deliver_event(answer.model_copy(update={"causation_id": str(follow_up)}))
    # The case got the tag (whoever gave it): case-svc says nothing of a tag it already has, so
    # the case itself is the outcome.
    tagged = case.model_copy(update={"tags": ["vip"], "version": 2})
    await redriving.deliver_event(redriving.case_event(tagged, CASE_UPDATED))

    await eventually(lambda: _not_awaited(redriving, tag, follow_up))
    so_far = {
        t: await _sent(redriving, t, case.id)
        for t in (topics.CASE_COMMANDS, topics.ACTIVITY_COMMANDS)
    }
    assert all(n < MAX_ATTEMPTS for n in so_far.values())  # answered, not given up
    await _said_until_two_passes_later(redriving, case.id)
    assert {t: await _sent(redriving, t, case.id) for t in so_far} == so_far


async def test_a_command_never_answered_is_given_up_after_its_attempts(redriving):
    # The case never shows the status and case-svc never answers (it refused it, say).
    case, [action] = await fired(redriving, [{"type": "change_status", "status": "in_progress"}])
    await redriving.said(topics.CASE_COMMANDS, case.id, 1, grace_s=0)  # it is awaited now

    await eventually(lambda: _not_awaited(redriving, action), timeout_s=30)
    await _said_until_two_passes_later(redriving, case.id)
    commands = await redriving.said_so_far(topics.CASE_COMMANDS, case.id)
    assert len(commands) == MAX_ATTEMPTS == await _sent(redriving, topics.CASE_COMMANDS, case.id)
    assert {body(c)["id"] for c in commands} == {str(action)}


def test_a_case_command_is_answered_by_the_case_showing_what_it_asked_for():
    contact = str(uuid.uuid4())
    ended = {"role": "advocate", "contact_id": str(uuid.uuid4()), "end_date": "2025-01-01"}
    case = {
        "status": "in_progress",
        "assignee": "casey",
        "tags": ["vip", "new"],
        "roles": [{"role": "advocate", "contact_id": contact}, ended],
    }
    shown = [
        (ADD_CASE_TAGS, {"tags": ["vip"]}),
        (CHANGE_CASE_STATUS, {"status": "in_progress"}),
        (ASSIGN_CASE, {"user": "casey"}),
        (ADD_CASE_ROLE, {"role": "advocate", "contact_id": contact}),
    ]
    not_shown = [
        (ADD_CASE_TAGS, {"tags": ["vip", "urgent"]}),
        (CHANGE_CASE_STATUS, {"status": "resolved"}),
        (ASSIGN_CASE, {"user": None}),
        (ADD_CASE_ROLE, {"role": "advocate", "contact_id": ended["contact_id"]}),
    ]
    assert all(effect_shows(kind, data, case) for kind, data in shown)
    assert not any(effect_shows(kind, data, case) for kind, data in not_shown)
    assert not effect_shows(ADD_CASE_TAGS, {"tags": ["vip"]}, None)  # a case not heard of


async def _said_until_two_passes_later(service: AutomationService, case_id: Any) -> list[Any]:
    """A marker: an email nobody answers, sent a third time, so two re-drive passes have
    looked since this was called. What notify.commands had for ``case_id`` up to it."""
    marker_case, [marker] = await fired(service, [{"type": "send_email", "template": "reminder"}])
    third = str(message_id(marker, 3))
    return await service.said_until(
        topics.NOTIFY_COMMANDS,
        lambda r: body(r)["id"] == third,
        keys={case_id, marker_case.id},
        match=lambda r: r.key.decode() == str(case_id),
    )


def _but_id(envelope: dict) -> dict:
    return {k: v for k, v in envelope.items() if k != "id"}


def _email_sent(case: CaseState, notification_id: uuid.UUID) -> Envelope[Any]:
    email = EmailState(
        id=uuid.uuid4(),
        notification_id=notification_id,
        case_id=case.id,
        to=["ada@example.org"],
        subject="s",
        status="sent",
        message_id=f"<{notification_id}@casestream>",
    )
    return new_envelope(
        type=EMAIL_SENT, source="notify-svc", subject=str(case.id), data=EmailEvent(email=email)
    )


async def _not_awaited(service: AutomationService, *command_ids: uuid.UUID) -> bool:
    async with service.database.session() as session:
        left = await session.scalar(
            sa.select(sa.func.count())
            .select_from(awaited_commands)
            .where(awaited_commands.c.id.in_(command_ids))
        )
    return left == 0


async def _sent(service: AutomationService, topic: str, case_id: Any) -> int:
    """How many commands about ``case_id`` it wrote to its outbox for ``topic``."""
    async with service.database.session() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.key == str(case_id), outbox.c.topic == service.topic(topic))
        )
    return int(count or 0)
