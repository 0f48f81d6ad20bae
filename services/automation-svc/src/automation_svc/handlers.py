"""What automation-svc does with each message it hears."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from automation_svc import actions, read_models
from automation_svc.actions import ActionFailed
from automation_svc.clock import Clock
from automation_svc.firing import Event, fire_rules
from automation_svc.tables import deferred_events, firing_actions
from casestream.contracts.activity import ActivityEnvelope
from casestream.contracts.case import CaseEnvelope, CaseState, CaseTypeEnvelope
from casestream.contracts.notify import (
    EMAIL_FAILED,
    EMAIL_SUPPRESSED,
    EmailEnvelope,
    TemplateEnvelope,
)
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


class Handlers:
    def __init__(self, settings: ServiceSettings, clock: Clock, wake_timers: Callable[[], None]):
        self.settings = settings
        self.clock = clock
        self.wake_timers = wake_timers

    async def fire_rules_on_case_event(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        """Remember the case as it now stands, then fire every rule this event matches once;
        a merged case's waiting actions are cancelled."""
        case = envelope.data.case
        await read_models.lock_case(tx, case.id)
        await read_models.remember_case(tx, case)
        await self._fire_deferred(tx, case)
        facts = envelope.data.model_dump(mode="json")
        facts["event"] = {"type": envelope.type, "occurred_at": envelope.occurred_at.isoformat()}
        event = Event(envelope.id, envelope.type, envelope.occurred_at, case.id, facts)
        await self._fire(tx, event)
        if case.merged_into is not None:
            await _cancel_pending(tx, case.id, f"the case was merged into {case.merged_into}")

    async def fire_rules_on_activity_event(
        self, envelope: ActivityEnvelope, tx: Transaction
    ) -> None:
        """Remember the activity, move the reminders timed from its dates, then fire every
        rule this event matches once."""
        activity = envelope.data.activity
        await read_models.remember_activity(tx, activity)
        facts: dict[str, Any] = envelope.data.model_dump(mode="json")
        facts["event"] = {"type": envelope.type, "occurred_at": envelope.occurred_at.isoformat()}
        if await _reanchor(tx, activity.id, facts):
            tx.after_commit(self.wake_timers)
        event = Event(
            envelope.id, envelope.type, envelope.occurred_at, activity.case_id, facts, activity.id
        )
        if activity.case_id is not None:
            await read_models.lock_case(tx, activity.case_id)
            known = await read_models.case_states(tx.session, [activity.case_id])
            if activity.case_id not in known:
                # Its case's events (another topic) have not arrived yet: judging the rules
                # without the case would be judging them on nothing. Fire when it comes.
                await _defer(tx, event)
                return
            facts["case"] = known[activity.case_id]
        await self._fire(tx, event)

    async def remember_case_type(self, envelope: CaseTypeEnvelope, tx: Transaction) -> None:
        """Keep the newest definition of each case type, to check rules against."""
        await read_models.remember_case_type(tx, envelope.data)

    async def remember_template(self, envelope: TemplateEnvelope, tx: Transaction) -> None:
        """Keep the names of notify-svc's templates, to check rules against."""
        await read_models.remember_template(tx, envelope.data)

    async def learn_email_outcome(self, envelope: EmailEnvelope, tx: Transaction) -> None:
        """An email a rule asked for that failed (or was suppressed) marks its action so:
        the firing log tells what happened, not only that the command went out."""
        email = envelope.data.email
        if envelope.type not in (EMAIL_FAILED, EMAIL_SUPPRESSED):
            return
        state, why = (
            ("failed", f"email failed: {email.last_error}")
            if envelope.type == EMAIL_FAILED
            else ("cancelled", f"email suppressed: {email.last_error or 'do not email'}")
        )
        await tx.session.execute(
            firing_actions.update()
            .where(firing_actions.c.id == email.notification_id, firing_actions.c.state == "done")
            .values(state=state, error=why, updated_at=sa.func.now())
        )

    async def _fire_deferred(self, tx: Transaction, case: CaseState) -> None:
        """The activity events that came before this case: judged now, on the case as it is."""
        waiting = (
            await tx.session.execute(
                deferred_events.delete()
                .where(deferred_events.c.case_id == case.id)
                .returning(deferred_events)
            )
        ).all()
        state = case.model_dump(mode="json")
        for row in sorted(waiting, key=lambda r: r.occurred_at):
            facts = {**row.facts, "case": state}
            await self._fire(
                tx, Event(row.id, row.type, row.occurred_at, case.id, facts, row.activity_id)
            )

    async def _fire(self, tx: Transaction, event: Event) -> None:
        fired = await fire_rules(tx, self.settings, event, now=self.clock.now())
        if fired.timers:
            tx.after_commit(self.wake_timers)


async def _defer(tx: Transaction, event: Event) -> None:
    await tx.session.execute(
        insert(deferred_events)
        .values(
            id=event.id,
            case_id=event.case_id,
            type=event.type,
            occurred_at=event.occurred_at,
            activity_id=event.activity_id,
            facts=event.facts,
        )
        .on_conflict_do_nothing()
    )


async def _reanchor(tx: Transaction, activity_id: Any, facts: dict[str, Any]) -> int:
    """Pending actions timed from this activity's dates follow it when it is rescheduled
    (earlier too: a later due time would otherwise be found only when the old one came)."""
    rows = (
        await tx.session.execute(
            sa.select(firing_actions).where(
                firing_actions.c.activity_id == activity_id,
                firing_actions.c.state == "pending",
                firing_actions.c.occurrence == 0,
                firing_actions.c.params.has_key("at"),
            )
        )
    ).all()
    moved = 0
    for row in rows:
        try:
            due = actions.anchored_due(actions.parse(row.type, row.params), facts)
        except (ActionFailed, ValueError):
            continue  # the timer worker cancels it with the reason when it comes due
        if due != row.due_at:
            await tx.session.execute(
                firing_actions.update()
                .where(firing_actions.c.id == row.id)
                .values(due_at=due, updated_at=sa.func.now())
            )
            moved += 1
    return moved


async def _cancel_pending(tx: Transaction, case_id: Any, reason: str) -> None:
    await tx.session.execute(
        firing_actions.update()
        .where(firing_actions.c.case_id == case_id, firing_actions.c.state == "pending")
        .values(state="cancelled", error=reason, updated_at=sa.func.now())
    )
