"""The timer worker: runs delayed actions when they come due, never before.

A batch of due pending actions is claimed with ``FOR UPDATE SKIP LOCKED`` and finished in
the same transaction: the case, the triggering activity and its case's activity counts are
re-read; each action is cancelled (case merged, rule disabled, a cancel_if or repeat-until
condition holding), moved (its anchor date changed), failed, or carried out (its command
into the outbox) and its next repeat written. A worker that dies mid-batch rolls back and
its locks go with its connection, so another takes the batch: nothing runs twice, nothing
is lost. Replicas share the table without ever taking the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram

from automation_svc import actions, read_models, redrive
from automation_svc.actions import ActionFailed
from automation_svc.config import Settings
from automation_svc.firing import repeat_row
from automation_svc.matching import first_holding
from automation_svc.tables import firing_actions, rules
from casestream.clock import Clock
from casestream.logging import get_logger
from casestream.persistence.database import Database, Transaction

log = get_logger(__name__)

timers_finished = Counter(
    "casestream_automation_timers_total", "Due actions finished, by outcome", ["outcome"]
)
timer_lateness = Histogram(
    "casestream_automation_timer_lateness_seconds",
    "How long after its due time an action ran",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


timers_late = Gauge(
    "casestream_automation_timers_late_seconds",
    "How long past its due time the most overdue pending action is (0: none is late)",
    ["service"],
)


@dataclass
class Outcome:
    state: str  # done, cancelled, failed, or pending (moved to a new due time)
    error: str | None = None
    due_at: datetime | None = None
    message: tuple[str, Any] | None = None  # (topic, envelope) to publish
    repeat_due: datetime | None = None


class TimerWorker:
    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        clock.on_change(self.wake)

    def wake(self) -> None:
        """A timer was written, or the clock moved: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if await self.fire_due() >= self.settings.timer_batch_size:
                continue  # more may be due already
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: wait_for can swallow a cancellation.
                async with asyncio.timeout(await self._seconds_to_next_due()):
                    await self._wake.wait()

    async def _seconds_to_next_due(self) -> float:
        async with self.database.session() as session:
            soonest = (
                await session.execute(
                    sa.select(sa.func.min(firing_actions.c.due_at)).where(
                        firing_actions.c.state == "pending"
                    )
                )
            ).scalar()
        poll = self.settings.timer_poll_interval_s
        # How late the most overdue pending action is: about 0 while timers fire on time.
        late = 0.0 if soonest is None else (self.clock.now() - soonest).total_seconds()
        timers_late.labels(self.settings.service_name).set(max(late, 0.0))
        if soonest is None:
            return poll
        return min(max((soonest - self.clock.now()).total_seconds(), 0.0), poll)

    async def fire_due(self) -> int:
        """Finish one batch of due actions; returns how many were claimed."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            rows = (
                await tx.session.execute(
                    sa.select(firing_actions)
                    .where(firing_actions.c.state == "pending", firing_actions.c.due_at <= now)
                    .order_by(firing_actions.c.due_at)
                    .limit(self.settings.timer_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await self._finish(tx, rows, now)
        return len(rows)

    async def _finish(self, tx: Transaction, rows: list[Any], now: datetime) -> None:
        facts = await current_facts(tx, rows, now)
        enabled = await _enabled_rules(tx, {r.rule_id for r in rows})
        outcomes = {r.id: _decided(r, facts[r.id], now, enabled) for r in rows}
        messages = [
            (self.settings.topic(o.message[0]), o.message[1])
            for o in outcomes.values()
            if o.message is not None
        ]
        await tx.publish_many(messages)
        await redrive.await_outcomes(tx, messages)
        await tx.session.execute(
            firing_actions.update()
            .where(firing_actions.c.id == sa.bindparam("_id"))
            .values(
                state=sa.bindparam("_state"),
                error=sa.bindparam("_error"),
                due_at=sa.bindparam("_due_at"),
                command_id=sa.bindparam("_command_id"),
                executed_at=sa.bindparam("_executed_at"),
                updated_at=sa.func.now(),
            ),
            [
                dict(
                    _id=r.id,
                    _state=o.state,
                    _error=o.error,
                    _due_at=o.due_at or r.due_at,
                    _command_id=r.id if o.message else None,
                    _executed_at=now if o.message else None,
                )
                for r, o in ((r, outcomes[r.id]) for r in rows)
            ],
        )
        repeats = [
            repeat_row(dict(r._mapping), r.occurrence + 1, o.repeat_due)
            for r, o in ((r, outcomes[r.id]) for r in rows)
            if o.repeat_due is not None
        ]
        if repeats:
            await tx.session.execute(firing_actions.insert(), repeats)
        for row in rows:
            outcome = outcomes[row.id]
            timers_finished.labels(outcome.state).inc()
            if outcome.message is not None:
                timer_lateness.observe(max((now - row.due_at).total_seconds(), 0.0))
            if outcome.state in ("cancelled", "failed"):
                log.info(
                    "timer " + outcome.state,
                    action_id=str(row.id),
                    case_id=str(row.case_id),
                    reason=outcome.error,
                )


def _decided(
    row: Any, facts: dict[str, Any], now: datetime, enabled: dict[uuid.UUID, bool]
) -> Outcome:
    """One action that cannot be judged fails alone rather than holding up every timer."""
    try:
        return decide(row, facts, now, enabled)
    except Exception as error:
        log.exception("timer could not be judged", action_id=str(row.id))
        return Outcome("failed", f"unexpected: {error!r}")


def decide(
    row: Any, facts: dict[str, Any], now: datetime, enabled: dict[uuid.UUID, bool]
) -> Outcome:
    """What becomes of one due action, given the current facts. Pure."""
    try:
        action = actions.parse(row.type, row.params)
    except ValueError as error:
        return Outcome("failed", f"cannot read the action: {error}")
    case = facts.get("case") or {}
    if case.get("merged_into"):
        return Outcome("cancelled", f"the case was merged into {case['merged_into']}")
    if not enabled.get(row.rule_id, False):
        return Outcome("cancelled", "the rule is disabled or deleted")
    if action.at is not None and row.occurrence == 0:
        try:
            due = actions.anchored_due(action, facts)
        except ActionFailed as error:
            return Outcome("cancelled", f"nothing to time it from any more: {error}")
        if due > now:  # the anchor moved later (e.g. the activity was rescheduled)
            return Outcome("pending", due_at=due)
    if reason := first_holding(row.cancel_if, facts):
        return Outcome("cancelled", f"cancel_if holds: {reason}")
    until = [c.model_dump(exclude_none=True) for c in action.repeat.until] if action.repeat else []
    if row.occurrence > 0 and (reason := first_holding(until, facts)):
        return Outcome("cancelled", f"repeat ended, until holds: {reason}")
    try:
        message = actions.command_for(
            action,
            action_id=row.id,
            case_id=row.case_id,
            facts=facts,
            now=now,
            rule_id=row.rule_id,
        )
    except (ActionFailed, ValueError) as error:
        return Outcome("failed", str(error))
    return Outcome(
        "done",
        message=message,
        repeat_due=actions.next_occurrence(action, row.due_at, row.occurrence),
    )


async def current_facts(
    tx: Transaction, rows: list[Any], now: datetime
) -> dict[uuid.UUID, dict[str, Any]]:
    """Per action: the case, the triggering activity or quotation or invoice, and the case's
    activity counts as automation-svc knows them now (four queries for the whole batch)."""
    session = tx.session
    case_states = await read_models.case_states(session, (r.case_id for r in rows))
    activity_states = await read_models.activity_states(session, (r.activity_id for r in rows))
    counts = await read_models.activity_counts(session, (r.case_id for r in rows))
    documents = await read_models.document_states(session, (r.document_id for r in rows))
    facts = {
        r.id: {
            "case": case_states.get(r.case_id, {}),
            "activity": activity_states.get(r.activity_id) if r.activity_id else None,
            "activities": counts.get(r.case_id, {}),
            "now": now.isoformat(),
        }
        for r in rows
    }
    for r in rows:  # a quotation's or invoice's action: the document as it is now
        if r.document_id in documents:
            kind, state = documents[r.document_id]
            facts[r.id][kind] = state
    return facts


async def _enabled_rules(tx: Transaction, rule_ids: set[uuid.UUID]) -> dict[uuid.UUID, bool]:
    rows = await tx.session.execute(
        sa.select(rules.c.id, rules.c.enabled).where(rules.c.id.in_(list(rule_ids)))
    )
    return {r.id: r.enabled for r in rows}
