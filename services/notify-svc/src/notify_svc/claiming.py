"""Claiming a batch of due emails: one transaction that counts the attempt and takes a
lease on each, so a worker that dies mid-send leaves nothing stuck and replicas never take
the same email."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from casestream.persistence.database import Database
from notify_svc.config import Settings
from notify_svc.tables import emails


async def claim(database: Database, settings: Settings) -> list[Any]:
    """Up to a batch of due emails (the longest due first), each with ``attempts`` already
    counted and ``next_attempt_at`` pushed out by the lease: if this worker never finishes
    one, it is due again when the lease runs out. SKIP LOCKED: another replica claiming at
    the same moment takes other emails."""
    due = (
        sa.select(emails.c.id)
        .where(emails.c.status == "queued", emails.c.next_attempt_at <= sa.func.now())
        .order_by(emails.c.next_attempt_at)
        .limit(settings.delivery_batch_size)
        .with_for_update(skip_locked=True)
    )
    lease = timedelta(seconds=settings.delivery_lease_s)
    async with database.transaction() as tx:
        result = await tx.session.execute(
            emails.update()
            .where(emails.c.id.in_(due.scalar_subquery()))
            .values(
                attempts=emails.c.attempts + 1,
                next_attempt_at=sa.func.now() + lease,
            )
            .returning(emails)
        )
        return list(result.all())
