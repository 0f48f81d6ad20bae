"""What automation-svc does with each message it hears."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from automation_svc import read_models, redrive
from automation_svc.firing import Event, Firings, anchored_due_at
from automation_svc.tables import firing_actions
from casestream.clock import Clock
from casestream.contracts.activity import ActivityEnvelope
from casestream.contracts.case import CaseEnvelope, CaseTypeEnvelope
from casestream.contracts.notify import (
    EMAIL_FAILED,
    EMAIL_SUPPRESSED,
    EmailEnvelope,
    TemplateEnvelope,
)
from casestream.contracts.sales import SalesEnvelope
from casestream.messaging.holding import awaited_case
from casestream.persistence.database import Transaction
from casestream.persistence.upserts import any_of
from casestream.settings import ServiceSettings
from casestream.tracing import traced


class Handlers:
    def __init__(self, settings: ServiceSettings, clock: Clock, wake_timers: Callable[[], None]):
        self.settings = settings
        self.clock = clock
        self.wake_timers = wake_timers

    async def fire_rules_on_case_events(
        self, envelopes: list[CaseEnvelope], tx: Transaction
    ) -> None:
        """Remember each case as it now stands (the commands of ours these events answer are
        awaited no more), then fire every rule each event matches once; the activity events
        that came before their case go on now; a merged case's waiting actions are
        cancelled."""
        cases = [envelope.data.case for envelope in envelopes]
        await read_models.take_case_advisory_locks(tx, (case.id for case in cases))
        await read_models.remember_cases(tx, cases)
        await redrive.outcomes_came(tx, redrive.caused_by(envelopes))
        await tx.release({awaited_case(case.id) for case in cases})
        batch = Firings(self.settings, self.clock.now())
        for envelope, case in zip(envelopes, cases, strict=True):
            with traced(envelope.correlation_id, str(envelope.id)):
                await batch.add(tx, _event(envelope, case.id))
                if case.merged_into is not None:
                    await self._write(tx, batch)  # its own actions are cancelled too
                    await _cancel_pending(
                        tx, case.id, f"the case was merged into {case.merged_into}"
                    )
        await self._write(tx, batch)

    async def fire_rules_on_case_event(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        """One case event alone (``fire_rules_on_case_events``)."""
        await self.fire_rules_on_case_events([envelope], tx)

    async def fire_rules_on_activity_events(
        self, envelopes: list[ActivityEnvelope], tx: Transaction
    ) -> None:
        """Remember each activity (the commands of ours these events answer are awaited no
        more), move the reminders timed from its dates, then fire every rule each event
        matches once; an event whose case is not known yet waits for it."""
        activities = [envelope.data.activity for envelope in envelopes]
        case_ids = {a.case_id for a in activities if a.case_id is not None}
        await read_models.take_case_advisory_locks(tx, case_ids)
        await read_models.remember_activities(tx, activities)
        await redrive.outcomes_came(tx, redrive.caused_by(envelopes))
        timed = await _TimedFromActivities.read(tx, {a.id for a in activities})
        known = await read_models.case_states(tx.session, case_ids)
        batch = Firings(self.settings, self.clock.now())
        for envelope, activity in zip(envelopes, activities, strict=True):
            with traced(envelope.correlation_id, str(envelope.id)):
                event = _event(envelope, activity.case_id, activity.id)
                # The actions this event's forerunners set (stored or in this batch) first.
                timed.follow(activity.id, event.facts)
                batch.reanchor(activity.id, event.facts)
                if activity.case_id is not None:
                    if activity.case_id not in known:
                        # Its case's events (another topic) have not arrived yet: judging the
                        # rules without the case would be judging them on nothing. Fire when
                        # it comes.
                        tx.hold(envelope, awaited_case(activity.case_id))
                        continue
                    event.facts["case"] = known[activity.case_id]
                await batch.add(tx, event)
        if await timed.save(tx):
            tx.after_commit(self.wake_timers)
        await self._write(tx, batch)

    async def fire_rules_on_sales_events(
        self, envelopes: list[SalesEnvelope], tx: Transaction
    ) -> None:
        """Fire every rule each quotation or invoice event matches once, judged with its
        case as it stands; an event whose case is not known yet waits for it."""
        case_ids = {_document(envelope).case_id for envelope in envelopes}
        await read_models.take_case_advisory_locks(tx, case_ids)
        await read_models.remember_documents(tx, map(_kind_and_state, envelopes))
        known = await read_models.case_states(tx.session, case_ids)
        batch = Firings(self.settings, self.clock.now())
        for envelope in envelopes:
            case_id = _document(envelope).case_id
            with traced(envelope.correlation_id, str(envelope.id)):
                if case_id not in known:
                    tx.hold(envelope, awaited_case(case_id))
                    continue
                event = _event(envelope, case_id)
                event.document_id = _document(envelope).id
                event.facts["case"] = known[case_id]
                await batch.add(tx, event)
        await self._write(tx, batch)

    async def remember_case_type(self, envelope: CaseTypeEnvelope, tx: Transaction) -> None:
        """Keep the newest definition of each case type, to check rules against."""
        await read_models.remember_case_type(tx, envelope.data)

    async def remember_template(self, envelope: TemplateEnvelope, tx: Transaction) -> None:
        """Keep the names of notify-svc's templates, to check rules against."""
        await read_models.remember_template(tx, envelope.data)

    async def learn_email_outcome(self, envelope: EmailEnvelope, tx: Transaction) -> None:
        """An email a rule asked for has its outcome (its command is awaited no more); one
        that failed (or was suppressed) marks its action so: the firing log tells what
        happened, not only that the command went out."""
        email = envelope.data.email
        await redrive.outcomes_came(tx, [email.notification_id])
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

    async def _write(self, tx: Transaction, batch: Firings) -> None:
        fired = await batch.flush(tx)
        if fired.timers:
            tx.after_commit(self.wake_timers)


def _document(envelope: SalesEnvelope) -> Any:
    """The quotation or invoice a sales event is about."""
    return envelope.data.quotation or envelope.data.invoice


def _kind_and_state(envelope: SalesEnvelope) -> tuple[str, Any]:
    return (
        ("quotation", envelope.data.quotation)
        if envelope.data.quotation
        else (
            "invoice",
            envelope.data.invoice,
        )
    )


def _event(envelope: Any, case_id: uuid.UUID | None, activity_id: uuid.UUID | None = None) -> Event:
    facts: dict[str, Any] = envelope.data.model_dump(mode="json")
    facts["event"] = {"type": envelope.type, "occurred_at": envelope.occurred_at.isoformat()}
    return Event(envelope.id, envelope.type, envelope.occurred_at, case_id, facts, activity_id)


class _TimedFromActivities:
    """Pending actions timed from a batch's activities' dates (``at``): they follow them when
    an activity is rescheduled (earlier too: a later due time would otherwise be found only
    when the old one came). One read for the batch; one write for those that moved."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = [dict(row._mapping, stored_due_at=row.due_at) for row in rows]

    @classmethod
    async def read(cls, tx: Transaction, activity_ids: set[uuid.UUID]) -> _TimedFromActivities:
        rows = (
            await tx.session.execute(
                sa.select(
                    firing_actions.c.id,
                    firing_actions.c.type,
                    firing_actions.c.params,
                    firing_actions.c.due_at,
                    firing_actions.c.activity_id,
                ).where(
                    any_of(firing_actions.c.activity_id, activity_ids),
                    firing_actions.c.state == "pending",
                    firing_actions.c.occurrence == 0,
                    firing_actions.c.params.has_key("at"),
                )
            )
        ).all()
        return cls(rows)

    def follow(self, activity_id: uuid.UUID, facts: dict[str, Any]) -> None:
        for row in self.rows:
            if row["activity_id"] == activity_id:
                due = anchored_due_at(row["type"], row["params"], facts)
                if due is not None:
                    row["due_at"] = due

    async def save(self, tx: Transaction) -> int:
        """Write the due times that moved; how many."""
        moved = [r for r in self.rows if r["due_at"] != r["stored_due_at"]]
        if moved:
            await tx.session.execute(
                firing_actions.update()
                .where(
                    firing_actions.c.id == sa.bindparam("_id"),
                    firing_actions.c.state == "pending",  # not if the timer ran it meanwhile
                )
                .values(due_at=sa.bindparam("_due_at"), updated_at=sa.func.now()),
                [dict(_id=r["id"], _due_at=r["due_at"]) for r in moved],
            )
        return len(moved)


async def _cancel_pending(tx: Transaction, case_id: Any, reason: str) -> None:
    await tx.session.execute(
        firing_actions.update()
        .where(firing_actions.c.case_id == case_id, firing_actions.c.state == "pending")
        .values(state="cancelled", error=reason, updated_at=sa.func.now())
    )
