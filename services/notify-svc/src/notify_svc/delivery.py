"""The delivery worker: claims due queued emails, drafts, sends and records each.

A claim commits ``attempts + 1`` and a lease (``next_attempt_at`` in the future) before
anything is sent, so an email whose worker died mid-send is picked up again when the lease
runs out, and several replicas never take the same email (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from casestream import topics
from casestream.logging import get_logger
from casestream.persistence.database import Database
from casestream.tracing import traced
from notify_svc import smtp
from notify_svc.composing import compose, sender_address
from notify_svc.config import Settings
from notify_svc.drafting import CaseNotKnown, Draft, draft_email
from notify_svc.events import email_event
from notify_svc.rendering import CannotRender
from notify_svc.tables import emails

log = get_logger(__name__)

# Marks an email held back because its case has not reached the read model yet (not a failed
# send): the case's arrival releases exactly these, never one a worker holds on lease.
WAITING_FOR_CASE = "waiting for the case to reach notify-svc"


class DeliveryWorker:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if not await self.deliver_due():
                with contextlib.suppress(TimeoutError):
                    # asyncio.timeout, not wait_for: wait_for can swallow a cancellation.
                    async with asyncio.timeout(self.settings.delivery_poll_interval_s):
                        await self._wake.wait()

    async def deliver_due(self) -> int:
        claimed = await self._claim()
        results = await asyncio.gather(
            *(self._deliver(row) for row in claimed), return_exceptions=True
        )
        for row, result in zip(claimed, results, strict=True):
            if isinstance(result, Exception):
                # The lease brings it back later, until it has had its attempts.
                log.error("delivery failed unexpectedly", email_id=str(row.id), error=repr(result))
                if row.attempts >= self.settings.send_max_attempts:
                    await self._finish(row, "failed", None, error=f"unexpected: {result!r}")
        return len(claimed)

    async def _claim(self) -> list[Any]:
        due = (
            sa.select(emails.c.id)
            .where(emails.c.status == "queued", emails.c.next_attempt_at <= sa.func.now())
            .order_by(emails.c.next_attempt_at)
            .limit(self.settings.delivery_batch_size)
            .with_for_update(skip_locked=True)
        )
        lease = timedelta(seconds=self.settings.delivery_lease_s)
        async with self.database.transaction() as tx:
            result = await tx.session.execute(
                emails.update()
                .where(emails.c.id.in_(due.scalar_subquery()))
                .values(
                    attempts=emails.c.attempts + 1,
                    next_attempt_at=sa.func.now() + lease,
                    # Claimed: no longer waiting, so a case's arrival cannot release it again.
                    last_error=sa.case(
                        (emails.c.last_error == WAITING_FOR_CASE, None),
                        else_=emails.c.last_error,
                    ),
                )
                .returning(emails)
            )
            return list(result.all())

    async def _deliver(self, row: Any) -> None:
        try:
            async with self.database.session() as session:
                draft = await draft_email(
                    session,
                    case_id=row.case_id,
                    to_spec=row.to_spec,
                    template=row.template,
                    inline={
                        "subject": row.subject,
                        "body_text": row.body_text,
                        "body_html": row.body_html,
                    },
                )
        except CaseNotKnown:
            await self._wait_for_case(row)
            return
        except CannotRender as error:
            await self._finish(row, "failed", None, error=f"cannot render: {error}")
            return
        deliverable = [r for r in draft.recipients if not r.suppressed]
        notes = "; ".join(draft.unresolved) or None
        if not deliverable:
            if draft.recipients:
                await self._finish(row, "suppressed", draft, error=notes)
            else:
                await self._finish(row, "failed", draft, error=f"no recipient: {notes}")
            return
        try:
            message = compose(
                sender=self.settings.smtp_sender,
                recipients=deliverable,
                subject=draft.subject,
                body_text=draft.body_text,
                body_html=draft.body_html,
                message_id=row.message_id,
                correlation_id=row.correlation_id,
            )
        except (ValueError, TypeError) as error:  # an address or header email refuses
            await self._finish(row, "failed", draft, error=f"cannot compose: {error}")
            return
        try:
            refused = await smtp.send(
                self.settings,
                message,
                sender_address(self.settings.smtp_sender).addr_spec,
                [r.address for r in deliverable],
            )
        except smtp.DeliveryFailed as failure:
            if failure.permanent or row.attempts >= self.settings.send_max_attempts:
                await self._finish(row, "failed", draft, error=str(failure))
            else:
                await self._retry_later(row, str(failure))
            return
        await self._finish(
            row, "sent", draft, error="; ".join(filter(None, [notes, refused])) or None
        )

    async def _finish(
        self, row: Any, status: str, draft: Draft | None, *, error: str | None
    ) -> None:
        """The outcome and its event, in one transaction; only if the claim is still ours."""
        values: dict[str, Any] = dict(status=status, last_error=error, next_attempt_at=None)
        if draft is not None:
            values.update(
                subject=draft.subject,
                body_text=draft.body_text,
                body_html=draft.body_html,
                recipients=[r.as_dict() for r in draft.recipients],
            )
        if status == "sent":
            values["sent_at"] = sa.func.now()
        with traced(row.correlation_id, str(row.notification_id)):
            async with self.database.transaction() as tx:
                finished = (
                    await tx.session.execute(self._ours(row).values(**values).returning(emails))
                ).first()
                if finished is not None:
                    await tx.publish(
                        self.settings.topic(topics.NOTIFY_EVENTS), email_event(finished)
                    )
            log.info("email " + status, email_id=str(row.id), case_id=str(row.case_id), error=error)

    async def _retry_later(self, row: Any, error: str) -> None:
        s = self.settings
        delay = min(s.send_backoff_initial_s * 2 ** (row.attempts - 1), s.send_backoff_max_s)
        delay *= random.uniform(0.5, 1.5)  # jitter: retries of one outage do not arrive together
        async with self.database.transaction() as tx:
            await tx.session.execute(
                self._ours(row).values(
                    last_error=error, next_attempt_at=sa.func.now() + timedelta(seconds=delay)
                )
            )
        log.warning(
            "email will be retried",
            email_id=str(row.id),
            attempts=row.attempts,
            in_s=round(delay, 1),
            error=error,
        )

    async def _wait_for_case(self, row: Any) -> None:
        """Not an attempt: look again shortly, up to a limit."""
        s = self.settings
        async with self.database.transaction() as tx:
            waited = await tx.session.execute(
                self._ours(row)
                .where(
                    emails.c.created_at
                    > sa.func.now() - timedelta(seconds=s.unknown_case_give_up_s)
                )
                .values(
                    attempts=emails.c.attempts - 1,
                    next_attempt_at=sa.func.now() + timedelta(seconds=s.unknown_case_retry_s),
                    last_error=WAITING_FOR_CASE,
                )
                .returning(emails.c.id)
            )
            gave_up = waited.first() is None
        if gave_up:
            await self._finish(row, "failed", None, error=f"case {row.case_id} never became known")

    @staticmethod
    def _ours(row: Any) -> Any:
        return emails.update().where(
            emails.c.id == row.id, emails.c.status == "queued", emails.c.attempts == row.attempts
        )
