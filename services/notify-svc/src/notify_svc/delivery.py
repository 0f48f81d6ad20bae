"""The delivery worker: claims due queued emails a batch at a time, drafts, sends and
records them, in three transactions and over one SMTP connection per batch.

1. The claim (claiming) commits ``attempts + 1`` and a lease (``next_attempt_at`` in the
   future) on each before anything is sent, so an email whose worker died mid-send is
   picked up again when the lease runs out, and several replicas never take the same email
   (SKIP LOCKED).
2. First attempts are drafted from one read of the read model and composed (preparing);
   one transaction then records every draft and the bytes to send (recording), and ends
   those that are not sent: do-not-email recipients (suppressed), cannot render or compose
   (failed), case not known yet (waits, not counted as an attempt). Only emails whose bytes
   are recorded are sent; every later attempt sends those recorded bytes. A try whose
   outcome is unknown (a timeout after DATA, a worker dying mid-send) is thus followed by
   the same letter, same Message-ID, same bytes, even if the case changed meanwhile, never
   by a different one.
3. The letters go out over one SMTP connection (smtp), one refusal not touching the
   others; a broken connection is opened again once. One transaction then writes every
   outcome and publishes their notify.events: sent; failed at once on a 5xx reply (with
   it); retried later with backoff and jitter on a 4xx, a timeout or a connection error,
   until ``send_max_attempts``.

   Each letter the server takes is noted at once (``accepted_at``, one statement of its
   own): a worker killed before the outcomes' commit leaves it known as sent, and the next
   claim records it so instead of sending it again. Should the database be out of reach
   (restarting), no further letter goes, and the outcomes are written again and again
   until it is back, while the lease still holds: a letter the server took but nothing
   noted would otherwise go a second time when its lease ran out.

So N emails cost three commits, N one-statement notes and one SMTP connection, not 1 + 2N
commits and N connections. Every write is guarded by the claim (id, still queued, same attempts): a
worker that lost its lease changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from casestream.logging import get_logger
from casestream.persistence.database import Database, Transaction, database_unavailable
from casestream.shutdown import finish_within
from notify_svc import smtp
from notify_svc.claiming import claim
from notify_svc.composing import sender_address
from notify_svc.config import Settings
from notify_svc.preparing import Letter, Prepared, prepare, recorded
from notify_svc.recording import RETRY, Outcome, record_drafts, settle
from notify_svc.tables import emails

log = get_logger(__name__)


class DeliveryWorker:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            batch = asyncio.ensure_future(self.deliver_due())
            try:
                claimed = await asyncio.shield(batch)
            except asyncio.CancelledError:
                # The service stops: the batch sends no more letters and records what went.
                # Cancelled between the server's yes and that commit, an email would go
                # again once its lease ran out.
                self._stopping.set()
                await finish_within(batch, self.settings.smtp_timeout_s + 3, "delivery batch")
                raise
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    # asyncio.timeout, not wait_for: wait_for can swallow a cancellation.
                    async with asyncio.timeout(self.settings.delivery_poll_interval_s):
                        await self._wake.wait()

    async def deliver_due(self) -> int:
        """One batch; returns how many emails it claimed."""
        # Start no send after half the lease: one more SMTP conversation must end before
        # the lease does, or another worker could take the email and send it as well.
        started = time.monotonic()
        stop_at = started + self.settings.delivery_lease_s / 2
        # The outcomes are ours to write until the lease runs out; then another may claim.
        lease_ends = started + self.settings.delivery_lease_s * 0.9
        claimed = await claim(self.database, self.settings)
        # Taken by the server before a worker died, its outcome unrecorded: sent, not again.
        taken = [Outcome(row, "sent", None) for row in claimed if row.accepted_at is not None]
        await self._write(self._settle, taken)
        claimed_unsent = [row for row in claimed if row.accepted_at is None]
        letters = [recorded(row) for row in claimed_unsent if row.raw_message is not None]
        fresh = [row for row in claimed_unsent if row.raw_message is None]
        if fresh:
            prepared = await prepare(self.database, self.settings, fresh)
            ours = set(await self._write(self._record, prepared))
            letters += [p.letter for p in prepared if p.letter and p.row.id in ours]
        if letters:
            # In the order they were asked for (RETURNING keeps none).
            letters.sort(key=lambda letter: (letter.row.created_at, letter.row.id))
            results = await smtp.send_each(
                self.settings,
                sender_address(self.settings.smtp_sender).addr_spec,
                [(letter.raw, letter.to) for letter in letters],
                stop_at=stop_at,
                stopping=self._stopping,
                accepted=lambda i: self._accepted(letters[i]),
            )
            await self._write(
                self._settle,
                [self._outcome(letter, r) for letter, r in zip(letters, results, strict=True)],
                until=lease_ends,
            )
        return len(claimed)

    async def _accepted(self, letter: Letter) -> bool:
        """The server took it: say so at once, in a statement of its own (one round trip),
        so that only the moment between its reply and this can send it twice. Whether that
        was noted: if not, the batch sends no more."""
        try:
            async with self.database.statements() as conn:
                await conn.execute(
                    emails.update()
                    .where(
                        emails.c.id == letter.row.id,
                        emails.c.status == "queued",
                        emails.c.attempts == letter.row.attempts,
                    )
                    .values(accepted_at=sa.func.now())
                )
        except Exception as error:  # the batch's outcomes still record it
            log.warning(
                "could not note an accepted email", email_id=str(letter.row.id), error=repr(error)
            )
            return False
        return True

    async def _record(self, tx: Transaction, prepared: list[Prepared]) -> list[uuid.UUID]:
        """Before any send: the drafts and bytes, and the outcomes of emails not sent.
        Returns the ids of those still ours (their bytes recorded)."""
        ours = await record_drafts(tx, [p.drafted for p in prepared if p.drafted])
        await settle(tx, self.settings, [p.outcome for p in prepared if p.outcome])
        return list(ours)

    async def _settle(self, tx: Transaction, outcomes: list[Outcome]) -> list[Any]:
        await settle(tx, self.settings, outcomes)
        return []

    def _outcome(self, letter: Letter, result: str | smtp.DeliveryFailed) -> Outcome:
        if isinstance(result, smtp.DeliveryFailed):
            # One never handed to the server has not used up its attempts.
            spent = result.tried and letter.row.attempts >= self.settings.send_max_attempts
            if result.permanent or spent:
                return Outcome(letter.row, "failed", str(result))
            return Outcome(letter.row, RETRY, str(result))
        return Outcome(letter.row, "sent", "; ".join(filter(None, [letter.notes, result])) or None)

    async def _write(
        self,
        write: Callable[[Transaction, list[Any]], Awaitable[list[Any]]],
        items: list[Any],
        *,
        until: float | None = None,
    ) -> list[Any]:
        """``write`` the batch's items (each with its ``row``) in one transaction; should that
        fail, each in its own, so one bad row (say, an event too large to publish) costs only
        itself. An item that cannot be written is left to its lease. Given ``until``
        (``time.monotonic()``), a database out of reach is waited for until then."""
        if not items:
            return []
        pause = 0.2
        while True:
            try:
                async with self.database.transaction() as tx:
                    return await write(tx, items)
            except Exception as error:
                if (
                    until is not None
                    and database_unavailable(error)
                    and time.monotonic() + pause < until
                ):
                    log.warning("database out of reach; writing outcomes again", error=repr(error))
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                if len(items) == 1:
                    log.error(
                        "delivery write failed", email_id=str(items[0].row.id), error=repr(error)
                    )
                    return []
                log.warning("batch write failed; writing one email at a time", error=repr(error))
                break
        written = []
        for item in items:
            written += await self._write(write, [item], until=until)
        return written
