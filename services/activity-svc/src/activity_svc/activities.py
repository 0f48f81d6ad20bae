"""Recording activities: one row, and its event in the same transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from activity_svc.events import ActivityRecord, created_envelope, record_of
from activity_svc.tables import activities, activity_types
from casestream import topics
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


async def record_activity(
    tx: Transaction, settings: ServiceSettings, **values: Any
) -> ActivityRecord | None:
    """Insert an activity and publish that it was scheduled or completed. With a ``source``
    already recorded, nothing happens and None is returned: one trigger, one activity."""
    now = datetime.now(UTC)
    row = {
        "id": uuid.uuid4(),
        "created_at": now,
        "updated_at": now,
        **values,
        "assignee_ids": [str(a) for a in values.get("assignee_ids") or []],
        "with_contact_ids": [str(c) for c in values.get("with_contact_ids") or []],
    }
    statement = insert(activities).values(**row).returning(*activities.c)
    if row.get("source") is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[activities.c.source])
    created = (await tx.session.execute(statement)).first()
    if created is None:
        return None
    activity = record_of(created)
    await tx.publish(
        settings.topic(topics.ACTIVITY_EVENTS),
        created_envelope(settings.service_name, activity),
    )
    return activity


async def activity_type_exists(session: Any, name: str) -> bool:
    found = await session.execute(
        sa.select(activity_types.c.name).where(activity_types.c.name == name)
    )
    return found.first() is not None
