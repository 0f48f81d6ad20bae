"""At-least-once consumption in batches, with bounded retries and dead letters.

A consumer takes what one poll returns (up to ``batch_size`` records, in order per
partition), validates each record into its contract, claims the batch's message ids in the
inbox in one statement and runs the handlers for the new ones in ONE database transaction.
After that transaction commits, the batch's offsets are committed in one request
(``{tp: last offset + 1}`` per partition, never a blanket ``commit()``). An idle system
polls one record at a time, so latency stays low; under load a poll brings hundreds.

Transactions of a service's consumers can deadlock on the rows they share (two read models
of one case); the loser's batch is tried again as a whole, a few times, before isolation.
A failing message costs its neighbours nothing: if any handler of the batch raises, the
batch's transaction is rolled back and its messages are handled again one at a time, each
in its own transaction with bounded retries and exponential backoff; one that keeps failing
goes to ``<topic>.dlq`` with its error. A record that cannot be decoded or validated, or
that a handler rejects (``Rejected``), goes there at once. Offsets move only after every
record of the batch was handled or dead-lettered, so nothing is skipped; a crash or a lost
partition means redelivery, which the inbox absorbs. A rebalance waits for the batch in
flight to finish and commit before the partitions are given away. A message that came before
what it needs is held (``casestream.messaging.holding``) for subscriptions that may hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from casestream import metrics
from casestream.logging import get_logger
from casestream.messaging.holding import BEHIND, Holding, NotYet, keys_with_held
from casestream.persistence.database import Database, Transaction, database_unavailable
from casestream.shutdown import cancel_and_wait
from casestream.topics import dead_letter_topic
from casestream.tracing import traced

log = get_logger(__name__)

Handler = Callable[[Any, Transaction], Awaitable[None]]
# A handler that takes a whole batch's new envelopes at once (bulk upserts of read models).
BatchHandler = Callable[[list[Any], Transaction], Awaitable[None]]
Records = dict[TopicPartition, list[Any]]


class Rejected(Exception):
    """Raised by a handler for a message that can never succeed (a command the rules refuse):
    it goes to the dead-letter topic at once, with this as its error."""


class InvalidMessage(ValueError):
    """A record that is no message at all, whatever its contract (a NUL character in it)."""


# Decoding, validation and refusals: retrying cannot help.
POISON = (
    pydantic.ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    InvalidMessage,
    Rejected,
)
# JSON writes a NUL as \u0000; after an escaped backslash (\\u0000) it is plain text.
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def decode(contract: type[pydantic.BaseModel], value: bytes | None) -> Any:
    """A record's value as its ``contract``, or one of ``POISON``. A NUL character anywhere
    in it (text or key) is refused here: PostgreSQL text cannot hold one, so a handler would
    only fail on it, ``max_attempts`` times, far from the cause."""
    if value is None:
        raise InvalidMessage("no value (a tombstone): not a message")
    if b"\\u0000" in value and (nul := _NUL.search(value)):
        at = nul.end() - len(b"\\u0000")
        raise InvalidMessage(
            f"a NUL character (\\u0000) at byte {at}: PostgreSQL text cannot hold it"
        )
    return contract.model_validate_json(value)


# Deadlock and serialization failure: another transaction won; trying again will do.
CONTENDED = {"40P01", "40001"}
TOGETHER_TRIES = 3


def _contended(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None), "sqlstate", None) in CONTENDED


@dataclass(frozen=True)
class Subscription:
    """``handler(envelope, tx)`` for each message on ``topic``, as consumer group ``group_id``
    (also the inbox's consumer name, so each group handles a message once). With
    ``batched``, ``handler(envelopes, tx)`` once for all of a batch's new messages, in order
    (alone, a message is a list of one). With ``holds``, a handler may hold a message that
    came too early (``NotYet``, ``tx.hold``) and later messages of a key with held ones wait
    behind them; ``gave_up(envelope, tx)`` is called for one that waited too long (without
    it, that message is dead-lettered)."""

    topic: str
    group_id: str
    contract: type[pydantic.BaseModel]
    handler: Handler | BatchHandler
    batched: bool = False
    holds: bool = False
    gave_up: Handler | None = None

    async def run(self, envelopes: list[Any], tx: Transaction) -> None:
        if self.batched:
            if envelopes:
                await self.handler(envelopes, tx)
            return
        for envelope in envelopes:
            with traced(envelope.correlation_id, str(envelope.id)):
                await self.handler(envelope, tx)

    @property
    def service(self) -> str:
        return self.group_id.rsplit(".", 1)[0]  # groups are <prefix><service>.<handler>


@dataclass
class ConsumptionPolicy:
    service: str
    batch_size: int = 200
    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    publish_timeout_s: float = 10.0

    def backoff(self, attempt: int) -> float:
        delay: float = self.backoff_initial_s * 2 ** (attempt - 1)  # int ** int is Any to mypy
        return min(delay, self.backoff_max_s)


class BatchConsumer:
    """One member of a subscription's consumer group, polling and handling batches."""

    def __init__(
        self,
        subscription: Subscription,
        database: Database,
        *,
        consumer: Callable[[], AIOKafkaConsumer],
        dead_letters: Callable[..., Awaitable[Any]],
        policy: ConsumptionPolicy,
    ) -> None:
        self.subscription = subscription
        self.database = database
        self._new_consumer = consumer  # made at start: aiokafka wants the running loop
        self.consumer: Any = None
        self.publish = dead_letters  # broker.publish: the dead-letter topics
        self.policy = policy
        self._in_flight = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self, join_within_s: float | None = None) -> None:
        """Join the group and start consuming. Waits up to ``join_within_s`` for the join; a
        group still rebalancing then (replicas starting together, one that vanished not yet
        timed out) is joined in the background: the service starts all the same."""
        self.consumer = self._new_consumer()
        self.consumer.subscribe(
            [self.subscription.topic], listener=_FinishBatchFirst(self._in_flight)
        )
        joined = asyncio.Event()
        self._task = asyncio.create_task(
            self._join_then_run(joined), name=f"consume {self.subscription.group_id}"
        )
        try:
            await asyncio.wait_for(joined.wait(), join_within_s)
        except TimeoutError:
            log.warning("still joining its group", group=self.subscription.group_id)

    async def _join_then_run(self, joined: asyncio.Event) -> None:
        while True:
            try:
                await self.consumer.start()
                break
            except KafkaError as error:
                log.warning("joining failed", group=self.subscription.group_id, error=repr(error))
                await asyncio.sleep(1)
        joined.set()
        await self.run()

    async def stop(self) -> None:
        await cancel_and_wait(self._task, 15, f"consumer {self.subscription.group_id}")
        self._task = None
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self.consumer.stop()

    async def run(self) -> None:
        while True:
            try:
                records = await self.consumer.getmany(
                    timeout_ms=1000, max_records=self.policy.batch_size
                )
            except ConsumerStoppedError:
                return
            except KafkaError as error:
                log.warning("poll failed", group=self.subscription.group_id, error=repr(error))
                await asyncio.sleep(1)
                continue
            if records:
                async with self._in_flight:
                    await self.handle(records)

    async def handle(self, records: Records) -> None:
        """Handle one poll's records, then commit their offsets."""
        started = time.perf_counter()
        decoded: list[tuple[Any, Any]] = []  # (record, envelope or why it is poison)
        for record in (r for batch in records.values() for r in batch):
            try:
                decoded.append((record, decode(self.subscription.contract, record.value)))
            except POISON as error:
                decoded.append((record, error))
        valid = [(r, e) for r, e in decoded if not isinstance(e, BaseException)]
        alone = True
        for attempt in range(1, TOGETHER_TRIES + 1):
            try:
                await self._handle_together(valid)
                alone = False
                break
            except asyncio.CancelledError:
                raise  # shutting down: not committed, it will come again
            except Exception as error:
                if _contended(error) and attempt < TOGETHER_TRIES:
                    await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
                    continue
                log.info("batch failed; handling it one message at a time", error=repr(error))
                break
        try:
            # In record order, so dead letters keep their partition's order.
            for record, item in decoded:
                if isinstance(item, BaseException):
                    await self.dead_letter(record, item, 1, "invalid message")
                elif alone:
                    await self._handle_alone(record, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The dead-letter topic is out of reach too: do not move on. Rewind so the batch
            # is read again once the broker is back (the inbox skips what was done).
            log.exception("dead-lettering failed; the batch will be re-read")
            await asyncio.sleep(self.policy.backoff_max_s)
            for tp, batch in records.items():
                self.consumer.seek(tp, batch[0].offset)
            return
        await self._commit({tp: batch[-1].offset + 1 for tp, batch in records.items()})
        topic = self.subscription.topic
        metrics.batch_seconds.labels(self.policy.service, topic).observe(
            time.perf_counter() - started
        )
        metrics.batch_size.labels(self.policy.service, topic).observe(len(decoded))

    async def _handle_together(self, valid: list[tuple[Any, Any]]) -> None:
        if not valid:
            return
        sub = self.subscription
        async with self.database.transaction() as tx:
            fresh = await tx.claim_messages(sub.group_id, [envelope.id for _, envelope in valid])
            new = []
            for record, envelope in valid:
                if envelope.id in fresh:  # not seen before, nor earlier in this batch
                    fresh.discard(envelope.id)
                    new.append((record, envelope))
            fresh_count = len(new)
            if sub.holds:
                new = await self._behind_held(tx, new)
            await sub.run([envelope for _, envelope in new], tx)
            if tx.holding is not None:
                await tx.holding.write(tx)
        self._count("processed", fresh_count)
        self._count("duplicate", len(valid) - fresh_count)

    async def _behind_held(
        self, tx: Transaction, new: list[tuple[Any, Any]]
    ) -> list[tuple[Any, Any]]:
        """Hold the messages whose key has held ones (they wait behind them); the rest."""
        tx.holding = Holding(self.subscription.group_id, {e.id: r for r, e in new})
        waiting = await keys_with_held(tx, self.subscription.group_id, (_key(r) for r, _ in new))
        for record, envelope in new:
            if _key(record) in waiting:
                tx.holding.hold(envelope, BEHIND)
        return [(r, e) for r, e in new if _key(r) not in waiting]

    async def _handle_alone(self, record: Any, envelope: Any) -> None:
        sub = self.subscription
        attempt = 0
        while True:
            attempt += 1
            try:
                with traced(envelope.correlation_id, str(envelope.id)):
                    async with self.database.transaction() as tx:
                        if not await tx.claim_message(sub.group_id, envelope.id):
                            self._count("duplicate")
                            return
                        if not sub.holds or await self._behind_held(tx, [(record, envelope)]):
                            await sub.run([envelope], tx)
                        if tx.holding is not None:
                            await tx.holding.write(tx)
                self._count("processed")
                return
            except asyncio.CancelledError:
                raise
            except POISON as error:
                reason = "rejected" if isinstance(error, Rejected) else "invalid message"
                await self.dead_letter(record, error, attempt, reason)
                return
            except Exception as error:
                # A subscription that does not hold cannot wait: its NotYet is a failure.
                if isinstance(error, NotYet) and sub.holds:
                    await self._hold(record, envelope, error.awaiting)
                    return
                if database_unavailable(error):
                    # Not the message's fault: it waits for the database, costing no attempt
                    # (a restart must not send good messages to the dead-letter topic).
                    log.warning("database unavailable; the message waits", error=repr(error))
                    attempt -= 1
                    await asyncio.sleep(self.policy.backoff_max_s)
                    continue
                if attempt >= self.policy.max_attempts:
                    await self.dead_letter(record, error, attempt, "handler kept failing")
                    return
                metrics.handler_retries.labels(self.policy.service, sub.topic).inc()
                log.warning(
                    "handler failed, retrying",
                    topic=sub.topic,
                    partition=record.partition,
                    offset=record.offset,
                    attempt=attempt,
                    error=repr(error),
                )
                await asyncio.sleep(self.policy.backoff(attempt))

    async def _hold(self, record: Any, envelope: Any, awaiting: str) -> None:
        """Keep it for later, claimed: its partition moves on, a redelivery is a duplicate."""
        async with self.database.transaction() as tx:
            if await tx.claim_message(self.subscription.group_id, envelope.id):
                tx.holding = Holding(self.subscription.group_id, {envelope.id: record})
                tx.holding.hold(envelope, awaiting)
                await tx.holding.write(tx)
        self._count("held")

    async def dead_letter(
        self, record: Any, error: BaseException, attempts: int, reason: str
    ) -> None:
        """Send ``record`` to its topic's dead-letter topic, with why in its headers."""
        headers = {k: _text(v) for k, v in (record.headers or ())}
        headers.update(
            {
                "dlq-reason": reason,
                "dlq-error": f"{type(error).__name__}: {error}"[:4000],
                "dlq-traceback": "".join(traceback.format_exception(error))[-4000:],
                "dlq-original-topic": record.topic,
                "dlq-original-partition": str(record.partition),
                "dlq-original-offset": str(record.offset),
                "dlq-attempts": str(attempts),
                "dlq-consumer-service": self.policy.service,
            }
        )
        async with asyncio.timeout(self.policy.publish_timeout_s):
            await self.publish(
                record.value or b"",
                topic=dead_letter_topic(record.topic),
                key=record.key,
                headers=headers,
            )
        log.error(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            reason=reason,
            error=repr(error),
        )
        metrics.messages_dead_lettered.labels(self.policy.service, record.topic).inc()
        self._count("dead_lettered")

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except Exception as error:
            # The partition was taken away: its records come again and the inbox makes that
            # harmless.
            log.warning("offset commit failed", topic=self.subscription.topic, error=repr(error))

    def _count(self, outcome: str, n: int = 1) -> None:
        if n:
            metrics.messages_consumed.labels(
                self.policy.service, self.subscription.topic, outcome
            ).inc(n)


# aiokafka has no type information, so its base class is Any to mypy.
class _FinishBatchFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions are given away only once the batch in flight is handled and committed."""

    def __init__(self, in_flight: asyncio.Lock) -> None:
        self.in_flight = in_flight

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.in_flight:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass


def _key(record: Any) -> str:
    return record.key.decode() if record.key else ""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
