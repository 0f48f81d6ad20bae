"""A rule tried on an event or a case: would it fire, and what would each action do. Uses
the same matching and action code as a real firing, and writes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from automation_svc import actions, read_models
from automation_svc.actions import ActionFailed
from automation_svc.matching import conditions_hold, failing, trigger_matches
from automation_svc.schemas import DryRun, DryRunIn, PlannedAction, PlannedCommand


class NotKnown(LookupError):
    """The case or activity has not reached automation-svc's read models (yet)."""


async def dry_run(session: AsyncConnection, rule: Any, body: DryRunIn, now: datetime) -> DryRun:
    event_type, occurred_at, facts = await _facts(session, rule, body, now)
    reasons = []
    if not rule.enabled:
        reasons.append("the rule is disabled")
    if not trigger_matches(rule.trigger, event_type, facts):
        case = facts.get("case") or {}
        reasons.append(
            f"the trigger {_present(rule.trigger)} does not match this {event_type} event "
            f"(instance {case.get('instance')!r}, case type {case.get('case_type')!r}, "
            f"activity type {(facts.get('activity') or {}).get('type')!r})"
        )
    if not conditions_hold(rule.conditions, facts):
        reasons.extend(f"condition does not hold: {c}" for c in failing(rule.conditions, facts))
    case_id = _case_id(facts)
    planned = [
        _plan(index, stored, rule, facts, case_id, occurred_at, now)
        for index, stored in enumerate(rule.actions)
    ]
    return DryRun(would_fire=not reasons, reasons=reasons, actions=planned)


async def _facts(
    session: AsyncConnection, rule: Any, body: DryRunIn, now: datetime
) -> tuple[str, datetime, dict[str, Any]]:
    if body.event is not None:
        facts = dict(body.event.data)
        occurred_at = body.event.occurred_at or now
        activity_case = (facts.get("activity") or {}).get("case_id")
        if "case" not in facts and activity_case:
            known = await read_models.case_states(session, [uuid.UUID(str(activity_case))])
            facts["case"] = known.get(uuid.UUID(str(activity_case)))
        event_type = body.event.type
    else:
        activity = None
        if body.activity_id is not None:
            known_activities = await read_models.activity_states(session, [body.activity_id])
            if body.activity_id not in known_activities:
                raise NotKnown(f"activity {body.activity_id}")
            activity = known_activities[body.activity_id]
        case_id = body.case_id or (activity and activity.get("case_id"))
        known = await read_models.case_states(session, [uuid.UUID(str(case_id))] if case_id else [])
        if body.case_id is not None and body.case_id not in known:
            raise NotKnown(f"case {body.case_id}")
        facts = {"case": next(iter(known.values()), None), "activity": activity, "changes": {}}
        occurred_at, event_type = now, rule.trigger["event"]
    facts["event"] = {"type": event_type, "occurred_at": occurred_at.isoformat()}
    return event_type, occurred_at, facts


def _case_id(facts: dict[str, Any]) -> uuid.UUID | None:
    found = (facts.get("case") or {}).get("id") or (facts.get("activity") or {}).get("case_id")
    return uuid.UUID(str(found)) if found else None


def _plan(
    index: int,
    stored: dict[str, Any],
    rule: Any,
    facts: dict[str, Any],
    case_id: uuid.UUID | None,
    occurred_at: datetime,
    now: datetime,
) -> PlannedAction:
    kind = stored["type"]
    try:
        action = actions.parse(kind, {k: v for k, v in stored.items() if k != "type"})
        if case_id is None:
            raise ActionFailed("the event is not about a case")
        due = actions.due_at(action, facts, occurred_at)
        if due is not None:
            return PlannedAction(index=index, type=kind, state="pending", due_at=due)
        topic, envelope = actions.command_for(
            action, action_id=uuid.uuid4(), case_id=case_id, facts=facts, now=now, rule_id=rule.id
        )
    except (ActionFailed, ValueError) as error:
        return PlannedAction(index=index, type=kind, state="failed", error=str(error))
    command = PlannedCommand(topic=topic, type=envelope.type, data=envelope.data)
    return PlannedAction(index=index, type=kind, state="now", command=command)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
