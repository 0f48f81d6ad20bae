"""Fire the rules an event matches: log each firing once, then perform its actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from automation_svc.actions import perform_action
from automation_svc.matching import conditions_hold, trigger_matches
from automation_svc.tables import firings, rules
from casestream.logging import get_logger
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

log = get_logger(__name__)

FIRING_NAMESPACE = uuid.UUID("0b7f6c52-2f0e-4d0b-9a43-5d4f7a6e2c11")


def firing_id_for(rule_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    """The same rule and event always make the same firing (a replay fires nothing new)."""
    return uuid.uuid5(FIRING_NAMESPACE, f"{rule_id}:{event_id}")


async def fire_rules(
    tx: Transaction,
    settings: ServiceSettings,
    *,
    event_id: uuid.UUID,
    event_type: str,
    occurred_at: datetime,
    case_id: uuid.UUID | None,
    facts: dict[str, Any],
) -> list[uuid.UUID]:
    """Returns the ids of the firings this event caused (none when it was seen before)."""
    candidates = (
        await tx.session.execute(
            sa.select(rules)
            .where(rules.c.enabled, rules.c.trigger["event"].astext == event_type)
            .order_by(rules.c.created_at, rules.c.id)
        )
    ).all()
    fired = []
    for rule in candidates:
        if not (
            trigger_matches(rule.trigger, event_type, facts)
            and conditions_hold(rule.conditions, facts)
        ):
            continue
        firing_id = firing_id_for(rule.id, event_id)
        inserted = await tx.session.execute(
            insert(firings)
            .values(
                id=firing_id,
                rule_id=rule.id,
                rule_version=rule.version,
                event_id=event_id,
                event_type=event_type,
                case_id=case_id,
            )
            .on_conflict_do_nothing()
            .returning(firings.c.id)
        )
        if inserted.first() is None:
            continue  # this rule already fired for this event
        for index, action in enumerate(rule.actions):
            await perform_action(
                tx,
                settings,
                firing_id=firing_id,
                index=index,
                action=action,
                case_id=case_id,
                occurred_at=occurred_at,
                rule_id=rule.id,
            )
        fired.append(firing_id)
        log.info("rule fired", rule=rule.name, firing_id=str(firing_id), case_id=str(case_id))
    return fired
