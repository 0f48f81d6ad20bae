"""Fire the rules an event matches: log each firing once (a redelivered event finds it
already there), run its immediate actions through the outbox (each command then awaits its
outcome: ``redrive``), and leave its timed actions as pending rows: durable timers for the
timer worker. A batch's events are planned one by one, in order, and written together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from automation_svc import actions, redrive
from automation_svc.actions import ActionFailed
from automation_svc.matching import conditions_hold, trigger_matches
from automation_svc.tables import firing_actions, firings, rules
from casestream.logging import get_logger
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings
from casestream.tracing import current_causation_id, current_correlation_id, traced

log = get_logger(__name__)

FIRING_NAMESPACE = uuid.UUID("0b7f6c52-2f0e-4d0b-9a43-5d4f7a6e2c11")


def firing_id_for(rule_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    """The same rule and event always make the same firing (a replay fires nothing new)."""
    return uuid.uuid5(FIRING_NAMESPACE, f"{rule_id}:{event_id}")


@dataclass
class Event:
    id: uuid.UUID
    type: str
    occurred_at: datetime
    case_id: uuid.UUID | None
    facts: dict[str, Any]
    activity_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None  # the quotation or invoice of a sales event


@dataclass
class Fired:
    firings: list[uuid.UUID] = field(default_factory=list)
    timers: int = 0  # pending actions written (the timer worker should look)


async def enabled_rules(tx: Transaction) -> list[Any]:
    """Every enabled rule, read once per transaction (a consumed batch shares one)."""

    async def read() -> list[Any]:
        query = sa.select(rules).where(rules.c.enabled).order_by(rules.c.created_at, rules.c.id)
        return list(await tx.session.execute(query))

    return await tx.read_once("enabled_rules", read)


async def matching_rules(tx: Transaction, event: Event) -> list[Any]:
    return [
        rule
        for rule in await enabled_rules(tx)
        if trigger_matches(rule.trigger, event.type, event.facts)
        and conditions_hold(rule.conditions, event.facts)
    ]


async def fire_rules(
    tx: Transaction, settings: ServiceSettings, event: Event, *, now: datetime
) -> Fired:
    """Fire the rules one event matches (``Firings`` for one event)."""
    batch = Firings(settings, now)
    await batch.add(tx, event)
    return await batch.flush(tx)


@dataclass
class _Planned:
    firing: dict[str, Any]
    rule_name: str
    actions: list[dict[str, Any]]  # its firing_actions rows
    messages: list[tuple[str, Any]]  # (topic, envelope) of its immediate actions
    trace: tuple[str | None, str | None]  # (correlation id, causation id) of its event


class Firings:
    """The firings of a transaction's events (a consumed batch), planned in the events'
    order and written by ``flush`` in three statements however many events and rules: the
    firings (those new: a redelivered event finds its firings there and fires nothing), the
    commands of their immediate actions, and their actions' log rows."""

    def __init__(self, settings: ServiceSettings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self._planned: dict[uuid.UUID, _Planned] = {}
        self._anchored: dict[uuid.UUID, list[dict[str, Any]]] = {}  # by activity id

    async def add(self, tx: Transaction, event: Event) -> None:
        """Plan the firings of every rule ``event`` matches (their commands are made now,
        under the event's correlation id)."""
        for rule in await matching_rules(tx, event):
            firing_id = firing_id_for(rule.id, event.id)
            if firing_id in self._planned:
                continue  # the same event twice
            rows: list[dict[str, Any]] = []
            messages: list[tuple[str, Any]] = []
            for index, stored in enumerate(rule.actions):
                action_rows, message = _start_action(
                    rule, firing_id, index, stored, event, self.now
                )
                rows += action_rows
                if message is not None:
                    messages.append((self.settings.topic(message[0]), message[1]))
            firing = dict(
                id=firing_id,
                rule_id=rule.id,
                rule_version=rule.version,
                event_id=event.id,
                event_type=event.type,
                case_id=event.case_id,
            )
            trace = (current_correlation_id(), current_causation_id())
            self._planned[firing_id] = _Planned(firing, rule.name, rows, messages, trace)
            if event.activity_id is not None:
                anchored = [row for row in rows if is_anchored(row)]
                if anchored:
                    self._anchored.setdefault(event.activity_id, []).extend(anchored)

    def reanchor(self, activity_id: uuid.UUID, facts: dict[str, Any]) -> None:
        """The planned actions timed from this activity's dates follow them, as the stored
        ones do (a later event of the activity in the same batch moved it)."""
        for row in self._anchored.get(activity_id, ()):
            due = anchored_due_at(row["type"], row["params"], facts)
            if due is not None:
                row["due_at"] = due

    async def flush(self, tx: Transaction) -> Fired:
        """Write what was planned (and forget it)."""
        planned, self._planned, self._anchored = self._planned, {}, {}
        fired = Fired()
        if not planned:
            return fired
        new = set(
            (
                await tx.session.execute(
                    insert(firings)
                    .on_conflict_do_nothing()  # the rules that already fired for the event
                    .returning(firings.c.id),
                    [p.firing for p in planned.values()],
                )
            ).scalars()
        )
        rows: list[dict[str, Any]] = []
        messages: list[tuple[str, Any]] = []
        for firing_id, p in planned.items():
            if firing_id not in new:
                continue
            rows += p.actions
            messages += p.messages
            fired.firings.append(firing_id)
            with traced(*p.trace):
                log.info(
                    "rule fired",
                    rule=p.rule_name,
                    firing_id=str(firing_id),
                    case_id=str(p.firing["case_id"]),
                )
        await tx.publish_many(messages)
        await redrive.await_outcomes(tx, messages)
        if rows:
            await tx.session.execute(firing_actions.insert(), rows)
        fired.timers = sum(row["state"] == "pending" for row in rows)
        return fired


def is_anchored(row: Any) -> bool:
    """A pending first occurrence timed from a date (``at``): it follows the date."""
    return row["state"] == "pending" and row["occurrence"] == 0 and "at" in row["params"]


def anchored_due_at(
    action_type: str, params: dict[str, Any], facts: dict[str, Any]
) -> datetime | None:
    """When an action timed from a date is due on these facts; None when it cannot be
    told (the timer worker cancels it with the reason when it comes due)."""
    try:
        return actions.anchored_due(actions.parse(action_type, params), facts)
    except (ActionFailed, ValueError):
        return None


def _start_action(
    rule: Any,
    firing_id: uuid.UUID,
    index: int,
    stored: dict[str, Any],
    event: Event,
    now: datetime,
) -> tuple[list[dict[str, Any]], tuple[str, Any] | None]:
    """The action's log rows (pending with its due time; done, with the command to send, and
    its first repeat when it repeats; or failed with why) and the (topic, envelope) to send."""
    action_id = actions.action_id_for(firing_id, index)
    row: dict[str, Any] = dict(
        id=action_id,
        firing_id=firing_id,
        index=index,
        type=stored["type"],
        params={k: v for k, v in stored.items() if k != "type"},
        rule_id=rule.id,
        case_id=event.case_id,
        activity_id=event.activity_id,
        document_id=event.document_id,
        cancel_if=rule.cancel_if,  # the rule version's, kept with the timer
        # Every key in every row: the rows are inserted together (executemany).
        occurrence=0,
        due_at=None,
        error=None,
        command_id=None,
        executed_at=None,
    )
    try:
        action = actions.parse(stored["type"], row["params"])
        if event.case_id is None:
            raise ActionFailed("the event is not about a case")
        due = actions.due_at(action, event.facts, event.occurred_at)
        if due is not None:
            return [{**row, "state": "pending", "due_at": due}], None
        message = actions.command_for(
            action,
            action_id=action_id,
            case_id=event.case_id,
            facts=event.facts,
            now=now,
            rule_id=rule.id,
        )
    except (ActionFailed, ValueError) as error:
        return [{**row, "state": "failed", "error": str(error)}], None
    done = {**row, "state": "done", "command_id": action_id, "executed_at": now}
    following = actions.next_occurrence(action, now, 0)
    return [done] + ([repeat_row(done, 1, following)] if following else []), message


def repeat_row(row: dict[str, Any], occurrence: int, due: datetime) -> dict[str, Any]:
    """The pending row of an action's next occurrence (its own id, so its own command id)."""
    return {
        **row,
        "id": actions.action_id_for(row["firing_id"], row["index"], occurrence),
        "occurrence": occurrence,
        "state": "pending",
        "due_at": due,
        "command_id": None,
        "executed_at": None,
    }
