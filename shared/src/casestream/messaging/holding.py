"""Late arrivals: a message that came before what it needs waits, as received, until it comes.

Topics are ordered only within themselves, so a ``case.opened`` can come before the case type
it names, and an activity event before its case. A handler says so by raising
``NotYet(awaiting)`` (or, handling a batch, with ``tx.hold(envelope, awaiting)`` for one of
its messages); ``awaiting`` names the missing thing (``awaited_case_type(name, version)``).
The message is then **held**: its record is kept in ``held_messages``, its inbox claim
stands (a redelivery is a duplicate), and its partition moves on. Later messages of the same
key and consumer are held behind it, so one key's messages are still handled in order.

The handler of what was missing calls ``tx.release(awaiting)``; once that commits, the
service's ``HeldMessages`` worker hands the held messages to their handlers again, the
first of each key first. Releases are also found by polling (another replica may release),
and a held message is checked again now and then by itself (a release that raced its
holding is never missed). A message that fails when handled again is retried with backoff
and, after the consumption policy's attempts, dead-lettered like any other; one that still
waits after ``give_up_s`` goes to its subscription's ``gave_up`` handler, or else to the
dead-letter topic.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from casestream import metrics
from casestream.logging import get_logger
from casestream.persistence.tables import held_messages
from casestream.shutdown import cancel_and_wait

if TYPE_CHECKING:
    from casestream.messaging.consumption import BatchConsumer, ConsumptionPolicy
    from casestream.persistence.database import Database, Transaction

log = get_logger(__name__)

BEHIND = None  # the ``awaiting`` of a row that waits behind an earlier one of its key
RECHECK_FIRST_S = 5.0
RECHECK_MAX_S = 600.0


class NotYet(Exception):
    """Raised by a handler for a message that came before what it needs: it is held until
    ``awaiting`` is released (see the module docstring)."""

    def __init__(self, awaiting: str) -> None:
        super().__init__(f"waiting for {awaiting}")
        self.awaiting = awaiting


# What messages wait for, in one spelling for the holding and the releasing side.


def awaited_case(case_id: uuid.UUID | str) -> str:
    return f"case:{case_id}"


def awaited_case_type(name: str, version: int) -> str:
    return f"case-type:{name}:{version}"


def row_of(record: Any, consumer: str, awaiting: str | None) -> dict[str, Any]:
    """The held row of a consumed record."""
    envelope_id = json.loads(record.value)["id"]
    return dict(
        consumer=consumer,
        key=record.key.decode() if record.key else "",
        message_id=uuid.UUID(envelope_id),
        awaiting=awaiting,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        value=record.value,
        headers={k: _text(v) for k, v in (record.headers or ())},
        due_at=datetime.now(UTC) + timedelta(seconds=RECHECK_FIRST_S),
    )


class Holding:
    """What a consumed batch's transaction knows to hold its messages: their records, and
    the keys that already have messages held (``tx.holding``)."""

    def __init__(self, consumer: str, records: dict[Any, Any]) -> None:
        self.consumer = consumer
        self.records = records  # envelope id -> its record
        self.held: list[dict[str, Any]] = []
        self.held_ids: set[Any] = set()

    def is_behind(self, envelope: Any) -> bool:
        """Whether an earlier message of ``envelope``'s key was held in this batch: a batch
        handler holds it too (``tx.hold``), behind that one."""
        key = self.records[envelope.id].key or b""
        return any(row["key"] == key.decode() for row in self.held)

    def hold(self, envelope: Any, awaiting: str | None) -> None:
        record = self.records[envelope.id]
        self.held.append(row_of(record, self.consumer, awaiting))
        self.held_ids.add(envelope.id)
        log.info(
            "message held",
            consumer=self.consumer,
            type=getattr(envelope, "type", None),
            subject=getattr(envelope, "subject", None),
            awaiting=awaiting or "an earlier message of its key",
        )

    async def write(self, tx: Transaction) -> None:
        if self.held:
            await tx.session.execute(
                postgresql.insert(held_messages).on_conflict_do_nothing(), self.held
            )
            metrics.messages_held.labels(self.consumer).inc(len(self.held))
            self.held = []


async def keys_with_held(tx: Transaction, consumer: str, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` have messages of ``consumer`` held: new ones go behind them."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await tx.session.execute(
        sa.select(held_messages.c.key)
        .where(held_messages.c.consumer == consumer, held_messages.c.key.in_(wanted))
        .distinct()
    )
    return set(rows.scalars())


async def release(tx: Transaction, awaiting: Iterable[str]) -> int:
    """What ``awaiting`` names has arrived: the messages held for it are due now. How many."""
    names = sorted(set(awaiting))
    if not names:
        return 0
    result = await tx.session.execute(
        held_messages.update()
        .where(held_messages.c.awaiting.in_(names), held_messages.c.due_at > sa.func.now())
        .values(due_at=sa.func.now())
    )
    return int(result.rowcount)


# The first held row of each (consumer, key) that is due: rows behind it wait their turn.
_DUE_HEADS = sa.text(
    """
    SELECT p.id FROM held_messages p
    WHERE p.consumer = ANY(:consumers) AND p.due_at <= now()
      AND NOT EXISTS (
        SELECT 1 FROM held_messages q
        WHERE q.consumer = p.consumer AND q.key = p.key AND q.id < p.id)
    ORDER BY p.id
    LIMIT :limit
    """
)


class HeldMessages:
    """The worker that hands held messages to their handlers again once released."""

    def __init__(
        self,
        database: Database,
        consumers: list[BatchConsumer],
        policy: ConsumptionPolicy,
        *,
        poll_interval_s: float = 2.0,
        give_up_s: float = 7 * 24 * 3600,
        batch_size: int = 100,
    ) -> None:
        self.database = database
        # group id -> a consumer of it: its subscription, and its way to the dead letters
        self.consumers = {c.subscription.group_id: c for c in consumers}
        self.subscriptions = {g: c.subscription for g, c in self.consumers.items()}
        self.policy = policy
        self.poll_interval_s = poll_interval_s
        self.give_up = timedelta(seconds=give_up_s)
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.database.on_release(self.wake)
        self._task = asyncio.create_task(self._run(), name="held messages")

    async def stop(self) -> None:
        await cancel_and_wait(self._task, 15, "held messages")
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                while await self.replay_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("replaying held messages failed; trying again")
            try:
                async with asyncio.timeout(self.poll_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def replay_due(self) -> int:
        """Hand each due first-of-its-key held message to its handler again; how many."""
        async with self.database.session() as session:
            ids = list(
                (
                    await session.execute(
                        _DUE_HEADS,
                        {"consumers": list(self.subscriptions), "limit": self.batch_size},
                    )
                ).scalars()
            )
        for row_id in ids:
            await self._replay(row_id)
        return len(ids)

    async def _replay(self, row_id: int) -> None:
        from casestream.messaging.consumption import POISON

        async with self.database.transaction() as tx:
            row = (
                await tx.session.execute(
                    sa.select(held_messages, (sa.func.now() - self.give_up).label("too_old"))
                    .where(held_messages.c.id == row_id)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return  # done meanwhile, or another replica has it
            sub = self.subscriptions[row.consumer]
            envelope: Any = None
            try:
                envelope = sub.contract.model_validate_json(row.value)
                # A batch handler holds it again with tx.hold: the same as raising NotYet.
                tx.holding = again = Holding(row.consumer, {envelope.id: _Record(row)})
                async with tx.savepoint():
                    await sub.run([envelope], tx)
                    if again.held:
                        raise NotYet(again.held[-1]["awaiting"] or "")
            except NotYet as still:
                await self._wait_longer(tx, row, envelope, still.awaiting)
                return
            except POISON as error:
                await self._dead_letter(tx, row, error, row.attempts + 1, "invalid message")
                return
            except Exception as error:
                await self._failed(tx, row, error)
                return
            await self._done(tx, row)
            metrics.messages_consumed.labels(self.policy.service, sub.topic, "unheld").inc()

    async def _done(self, tx: Transaction, row: Any) -> None:
        """Handled: gone, and the messages behind it are next."""
        await tx.session.execute(held_messages.delete().where(held_messages.c.id == row.id))
        await tx.session.execute(
            held_messages.update()
            .where(
                held_messages.c.consumer == row.consumer,
                held_messages.c.key == row.key,
                held_messages.c.due_at > sa.func.now(),
            )
            .values(due_at=sa.func.now())
        )
        tx.after_commit(self.wake)

    async def _wait_longer(self, tx: Transaction, row: Any, envelope: Any, awaiting: str) -> None:
        tx.holding = None
        if row.held_at <= row.too_old:
            sub = self.subscriptions[row.consumer]
            if sub.gave_up is not None:
                await sub.gave_up(envelope, tx)
                await self._done(tx, row)
                log.warning("gave up waiting", consumer=row.consumer, awaiting=awaiting)
            else:
                await self._dead_letter(tx, row, NotYet(awaiting), row.attempts, "waited too long")
            return
        delay = min(RECHECK_FIRST_S * 2**row.rechecks, RECHECK_MAX_S)
        await tx.session.execute(
            held_messages.update()
            .where(held_messages.c.id == row.id)
            .values(
                awaiting=awaiting,
                rechecks=held_messages.c.rechecks + 1,
                due_at=sa.func.now() + timedelta(seconds=delay),
            )
        )

    async def _failed(self, tx: Transaction, row: Any, error: Exception) -> None:
        attempts = row.attempts + 1
        if attempts >= self.policy.max_attempts:
            await self._dead_letter(tx, row, error, attempts, "handler kept failing")
            return
        log.warning("held message failed, retrying", consumer=row.consumer, error=repr(error))
        await tx.session.execute(
            held_messages.update()
            .where(held_messages.c.id == row.id)
            .values(
                attempts=attempts,
                last_error=f"{type(error).__name__}: {error}"[:4000],
                due_at=sa.func.now() + timedelta(seconds=self.policy.backoff(attempts)),
            )
        )

    async def _dead_letter(
        self, tx: Transaction, row: Any, error: BaseException, attempts: int, reason: str
    ) -> None:
        await self.consumers[row.consumer].dead_letter(_Record(row), error, attempts, reason)
        await self._done(tx, row)


class _Record:
    """A held row as the dead-letter writer reads a consumed record."""

    def __init__(self, row: Any) -> None:
        self.topic, self.partition, self.offset = row.topic, row.partition, row.offset
        self.key = row.key.encode()
        self.value = bytes(row.value)
        self.headers = [(k, v.encode()) for k, v in row.headers.items()]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
