"""The delivery worker: claims due queued emails, drafts, sends and records each.

A claim commits ``attempts + 1`` and a lease (``next_attempt_at`` in the future) before
anything is sent, so an email whose worker died mid-send is picked up again when the lease
runs out, and several replicas never take the same email (SKIP LOCKED).

The first attempt renders and composes the message and records its bytes before sending
them; every later attempt sends those recorded bytes. A try whose outcome is unknown (a
timeout after DATA, a worker dying mid-send) is thus followed by the same letter, same
Message-ID, same bytes, even if the case changed meanwhile, never by a different one.
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
from notify_svc.composing import compose, flatten, needs_smtputf8, sender_address
from notify_svc.config import Settings
from notify_svc.drafting import CaseNotKnown, Draft, draft_email
from notify_svc.events import email_event
from notify_svc.recipients import staff_directory
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
        if row.raw_message is None:
            prepared = await self._prepare(row)
            if prepared is None:  # finished (failed, suppressed) or waiting for its case
                return
            raw, to, notes = prepared
        else:
            # Tried before: the outcome of that try is unknown, so send the very same bytes.
            raw, notes = row.raw_message, row.unresolved
            to = [r["address"] for r in row.recipients if not r.get("suppressed")]
        try:
            refused = await smtp.send(
                self.settings,
                raw,
                sender_address(self.settings.smtp_sender).addr_spec,
                to,
                smtputf8=needs_smtputf8(to),
            )
        except smtp.DeliveryFailed as failure:
            if failure.permanent or row.attempts >= self.settings.send_max_attempts:
                await self._finish(row, "failed", None, error=str(failure))
            else:
                await self._retry_later(row, str(failure))
            return
        await self._finish(
            row, "sent", None, error="; ".join(filter(None, [notes, refused])) or None
        )

    async def _prepare(self, row: Any) -> tuple[bytes, list[str], str | None] | None:
        """Draft and compose the email, and record both before the first send. Returns the
        bytes, the addresses and notes on unresolved recipients; None when the email is
        finished without sending or waits for its case."""
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
                    activity=row.activity,
                    staff=staff_directory(self.settings.staff_tokens),
                )
        except CaseNotKnown:
            await self._wait_for_case(row)
            return None
        except CannotRender as error:
            await self._finish(row, "failed", None, error=f"cannot render: {error}")
            return None
        deliverable = [r for r in draft.recipients if not r.suppressed]
        notes = "; ".join(draft.unresolved) or None
        if not deliverable:
            if draft.recipients:
                await self._finish(row, "suppressed", draft, error=notes)
            else:
                await self._finish(row, "failed", draft, error=f"no recipient: {notes}")
            return None
        to = [r.address for r in deliverable]
        try:
            message = compose(
                sender=self.settings.smtp_sender,
                recipients=deliverable,
                subject=draft.subject,
                body_text=draft.body_text,
                body_html=draft.body_html,
                message_id=row.message_id,
                dated=row.created_at,
                correlation_id=row.correlation_id,
            )
            raw = flatten(message, utf8=needs_smtputf8(to))
        except (ValueError, TypeError) as error:  # an address or header email refuses
            await self._finish(row, "failed", draft, error=f"cannot compose: {error}")
            return None
        async with self.database.transaction() as tx:
            recorded = await tx.session.execute(
                self._ours(row)
                .values(**_drafted(draft), raw_message=raw, unresolved=notes)
                .returning(emails.c.id)
            )
            if recorded.first() is None:  # no longer ours: another worker has it
                return None
        return raw, to, notes

    async def _finish(
        self, row: Any, status: str, draft: Draft | None, *, error: str | None
    ) -> None:
        """The outcome and its event, in one transaction; only if the claim is still ours."""
        values: dict[str, Any] = dict(status=status, last_error=error, next_attempt_at=None)
        if draft is not None:
            values.update(_drafted(draft))
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


def _drafted(draft: Draft) -> dict[str, Any]:
    """The rendered email as the log shows it (replacing an inline email's token source)."""
    return dict(
        subject=draft.subject,
        body_text=draft.body_text,
        body_html=draft.body_html,
        recipients=[r.as_dict() for r in draft.recipients],
    )
