"""A consumed batch of case or activity events is handled in one go (cases locked, remembered
and read together, firings written together) and keeps every guarantee of one event at a
time: each rule fires once per event, in order; an activity event that comes before its case
waits for it; a reminder follows its activity, even one set earlier in the same batch; a
merged case's waiting actions are cancelled. Two consumers' batches that share cases wait
for each other instead of deadlocking. The handlers are called as the consumers call them,
on batches made here, so what each batch holds is known."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa

from automation_svc.handlers import Handlers
from automation_svc.tables import firing_actions, firings
from casestream import topics
from casestream.contracts.activity import (
    ACTIVITY_COMPLETED,
    ACTIVITY_SCHEDULED,
    ACTIVITY_UPDATED,
    ActivityEnvelope,
)
from casestream.contracts.case import (
    ADD_CASE_TAGS,
    CASE_MERGED,
    CASE_OPENED,
    CASE_STATUS_CHANGED,
    CASE_UPDATED,
    CaseEnvelope,
    Change,
)
from casestream.contracts.notify import SEND_EMAIL
from casestream.messaging.holding import Holding
from casestream.persistence.tables import held_messages, outbox
from casestream.testing.factories import activity_state, case_state
from casestream.testing.plugin import eventually


def _rule(marker: str, trigger: dict, actions: list[dict]) -> dict:
    """A rule only cases whose subject is ``marker`` can fire (tests share one service)."""
    return {
        "name": marker,
        "trigger": trigger,
        "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
        "actions": actions,
    }


class Consumers:
    """The two handlers as their consumers call them: a batch in one transaction."""

    def __init__(self, service: Any) -> None:
        self.database = service.app.state.runtime.database
        self.handlers = Handlers(service.settings, service.clock, service.app.state.timers.wake)
        self.settings = service.settings

    async def cases(self, envelopes: list[Any]) -> None:
        await self._run(self.handlers.fire_rules_on_case_events, CaseEnvelope, envelopes)

    async def activities(self, envelopes: list[Any]) -> None:
        """As their consumer does, holding included: what it holds, the running service's
        held-message worker hands on when the case comes (as for a consumed batch)."""
        await self._run(
            self.handlers.fire_rules_on_activity_events,
            ActivityEnvelope,
            envelopes,
            holding=(self.settings.group("activity_rules"), topics.ACTIVITY_EVENTS),
        )

    async def _run(
        self, handler: Any, contract: Any, envelopes: list[Any], holding: Any = None
    ) -> None:
        raw = [json.dumps(e.model_dump(mode="json")).encode() for e in envelopes]
        typed = [contract.model_validate_json(r) for r in raw]
        async with self.database.transaction() as tx:
            if holding is not None:
                group, topic = holding
                records = [
                    _Record(self.settings.topic(topic), e.subject, r)
                    for e, r in zip(envelopes, raw, strict=True)
                ]
                tx.holding = Holding(
                    group, {e.id: rec for e, rec in zip(typed, records, strict=True)}
                )
            await handler(typed, tx)
            if tx.holding is not None:
                await tx.holding.write(tx)

    async def fired(self, *cases: Any) -> list[tuple[str, str]]:
        """(rule id, event id) of every firing of these cases, repeats included."""
        async with self.database.session() as session:
            rows = await session.execute(
                sa.select(firings.c.rule_id, firings.c.event_id).where(
                    firings.c.case_id.in_([c.id for c in cases])
                )
            )
            return sorted((str(r.rule_id), str(r.event_id)) for r in rows)

    async def actions(self, case: Any) -> list[Any]:
        async with self.database.session() as session:
            rows = await session.execute(
                sa.select(firing_actions).where(firing_actions.c.case_id == case.id)
            )
            return list(rows)

    async def commands(self, case: Any) -> list[dict]:
        """The commands in the outbox about a case, in the order they were written."""
        async with self.database.session() as session:
            rows = await session.execute(
                sa.select(outbox.c.payload)
                .where(outbox.c.key == str(case.id))
                .order_by(outbox.c.id)
            )
            return [r.payload for r in rows]

    async def waiting(self, case: Any) -> list[str]:
        """The ids of the messages held for the case."""
        async with self.database.session() as session:
            rows = await session.execute(
                sa.select(held_messages.c.message_id).where(held_messages.c.key == str(case.id))
            )
            return [str(i) for i in rows.scalars()]


class _Record:
    """What a consumed record gives holding: where it came from and its bytes."""

    def __init__(self, topic: str, key: str, value: bytes) -> None:
        self.topic, self.partition, self.offset = topic, 0, 0
        self.key, self.value, self.headers = key.encode(), value, []


async def test_a_batch_fires_each_event_once_in_order_and_sets_aside_what_waits_for_its_case(
    service,
):
    marker = f"batch-{uuid.uuid4()}"
    opened = {"event": CASE_OPENED}
    ack = await service.put_rule(
        _rule(marker, opened, [{"type": "send_email", "template": "acknowledgement"}])
    )
    later = await service.put_rule(
        _rule(marker, opened, [{"type": "send_email", "template": "follow_up", "delay": "P2D"}])
    )
    called = await service.put_rule(
        _rule(
            marker,
            {"event": ACTIVITY_COMPLETED, "activity_type": "initial_call"},
            [{"type": "add_tag", "tags": ["called"]}],
        )
    )
    at = {"field": "activity.due_at", "offset": "-P1D"}
    reminder = await service.put_rule(
        _rule(
            marker,
            {"event": ACTIVITY_SCHEDULED, "activity_type": "meeting"},
            [{"type": "send_email", "template": "reminder", "at": at}],
        )
    )
    consumers = Consumers(service)
    known, late, merged = (case_state(subject=marker) for _ in range(3))
    opened_known = service.case_event(known)
    await consumers.cases([opened_known])

    now = service.clock.now()
    meeting = activity_state(known.id, "meeting", due_at=now + timedelta(days=3))
    rescheduled = meeting.model_copy(
        update={
            "due_at": now + timedelta(days=5),
            "updated_at": meeting.updated_at + timedelta(minutes=1),
        }
    )
    call_late = service.activity_event(
        activity_state(late.id, status="completed"), ACTIVITY_COMPLETED
    )
    call_known = service.activity_event(
        activity_state(known.id, status="completed"), ACTIVITY_COMPLETED
    )
    scheduled = service.activity_event(meeting, ACTIVITY_SCHEDULED)
    activity_batch = [
        call_late,  # its case has not come yet
        scheduled,
        call_known,
        service.activity_event(rescheduled, ACTIVITY_UPDATED),  # moves the reminder just set
    ]
    await consumers.activities(activity_batch)
    assert await consumers.waiting(late) == [str(call_late.id)]
    assert await consumers.fired(late) == []

    opened_late, opened_merged = service.case_event(late), service.case_event(merged)
    gone = case_state(
        id=merged.id, subject=marker, status_class="closed", merged_into=known.id, version=2
    )
    renamed = late.model_copy(update={"version": 2, "details": "more"})
    case_batch = [
        opened_late,  # takes the call put aside for it
        opened_merged,
        service.case_event(renamed, CASE_UPDATED),
        service.case_event(gone, CASE_MERGED),  # cancels what this batch just set for it
    ]
    await consumers.cases(case_batch)
    # The call that waited is handed on by the worker once the case batch has committed.
    assert await eventually(lambda: _none_waiting(consumers, late))

    expected = sorted(
        [
            (ack, str(opened_known.id)),
            (later, str(opened_known.id)),
            (called, str(call_known.id)),
            (reminder, str(scheduled.id)),
            (called, str(call_late.id)),
            (ack, str(opened_late.id)),
            (later, str(opened_late.id)),
            (ack, str(opened_merged.id)),
            (later, str(opened_merged.id)),
        ]
    )
    assert await consumers.fired(known, late, merged) == expected
    assert await consumers.waiting(late) == []

    # The call that waited for its case fired after the case's own event, on the case as
    # it then stood.
    late_commands = await consumers.commands(late)
    assert [(c["type"], c["causation_id"]) for c in late_commands] == [
        (SEND_EMAIL, str(opened_late.id)),
        (ADD_CASE_TAGS, str(call_late.id)),
    ]
    # Each command under its own event, though a batch is one transaction.
    assert [(c["type"], c["causation_id"]) for c in await consumers.commands(known)] == [
        (SEND_EMAIL, str(opened_known.id)),
        (ADD_CASE_TAGS, str(call_known.id)),
    ]
    [pending_reminder] = [
        a for a in await consumers.actions(known) if a.type == "send_email" and a.params.get("at")
    ]
    assert pending_reminder.state == "pending"
    assert pending_reminder.due_at == now + timedelta(days=4)  # the rescheduled meeting's
    assert await _states(consumers, merged) == [
        ("send_email", "acknowledgement", "done"),
        ("send_email", "follow_up", "cancelled"),
    ]
    assert await _states(consumers, late) == [  # the merge cancelled only its own case's
        ("add_tag", None, "done"),
        ("send_email", "acknowledgement", "done"),
        ("send_email", "follow_up", "pending"),
    ]

    # Both batches again, as past the inbox: nothing new (the call now finds its case).
    await consumers.activities(activity_batch)
    await consumers.cases(case_batch)
    assert await consumers.fired(known, late, merged) == expected
    assert len(await consumers.commands(late)) == 2
    assert len(await consumers.commands(known)) == 2
    assert len(await consumers.commands(merged)) == 1
    [reminder_again] = [
        a for a in await consumers.actions(known) if a.type == "send_email" and a.params.get("at")
    ]
    assert reminder_again.due_at == now + timedelta(days=4)


async def _none_waiting(consumers: Consumers, case: Any) -> bool:
    return await consumers.waiting(case) == []


async def _states(consumers: Consumers, case: Any) -> list[tuple]:
    return sorted(
        (a.type, a.params.get("template"), a.state) for a in await consumers.actions(case)
    )


_WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1
  AND query ILIKE $2
"""


async def test_batches_of_both_consumers_sharing_cases_in_opposite_orders_do_not_deadlock(
    service,
):
    """The case batch takes its cases, then waits (a table lock held here) to write them;
    the activity batch, whose cases come in the other order, then waits for them. Were each
    case locked as its event came, the case batch would go on to lock the case the activity
    batch holds while that one waits for a case it holds: a deadlock, one batch lost."""
    marker = f"deadlock-{uuid.uuid4()}"
    status = await service.put_rule(
        _rule(marker, {"event": CASE_STATUS_CHANGED}, [{"type": "add_tag", "tags": ["moved"]}])
    )
    called = await service.put_rule(
        _rule(
            marker,
            {"event": ACTIVITY_COMPLETED, "activity_type": "initial_call"},
            [{"type": "add_tag", "tags": ["called"]}],
        )
    )
    consumers = Consumers(service)
    first, second = case_state(subject=marker), case_state(subject=marker)
    await consumers.cases([service.case_event(first), service.case_event(second)])
    changes = {"status": Change(before="open", after="in_progress")}
    moves = [
        service.case_event(
            case_state(id=c.id, subject=marker, status="in_progress", version=2),
            CASE_STATUS_CHANGED,
            changes,
        )
        for c in (second, first)
    ]
    calls = [
        service.activity_event(activity_state(c.id, status="completed"), ACTIVITY_COMPLETED)
        for c in (first, second)
    ]

    dsn = consumers.database.asyncpg_dsn()
    holder, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    tasks: list[asyncio.Task] = []
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("LOCK TABLE cases IN EXCLUSIVE MODE")  # reads go on, writes wait

        async def waiting(event: str, query: str) -> bool:
            return await watcher.fetchval(_WAITING, event, query) > 0

        tasks.append(asyncio.create_task(consumers.cases(moves)))
        await eventually(lambda: waiting("relation", "INSERT INTO cases%"))
        tasks.append(asyncio.create_task(consumers.activities(calls)))
        await eventually(lambda: waiting("advisory", "%pg_advisory_xact_lock%"))
        await hold.rollback()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)  # a deadlock would raise here
    finally:
        for task in tasks:
            task.cancel()
        await holder.close()
        await watcher.close()

    assert await consumers.fired(first, second) == sorted(
        [(status, str(e.id)) for e in moves] + [(called, str(e.id)) for e in calls]
    )
