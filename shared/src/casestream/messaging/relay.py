"""The outbox relay: publishes committed outbox rows, in order per key.

Rows are split into shards by key. A relay publishes only the shards whose advisory lock it
holds (on a dedicated connection), so with several replicas each key still has exactly one
publisher; when a replica dies its locks go with its connection and another takes over.
It wakes on a commit in this process (writers in this process NOTIFY only for shards another
relay holds), on NOTIFY from other processes, and polls as a fallback. Wake-ups are coalesced
(a few milliseconds of linger gather the commits of a busy moment into one batch), and an
idle poll is one query: the lock connection is checked and the backlog counted only every
few seconds, or when the relay has just drained.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from sqlalchemy.dialects.postgresql import ARRAY

from casestream import metrics
from casestream.logging import get_logger
from casestream.persistence.database import OUTBOX_CHANNEL, Database
from casestream.persistence.tables import inbox, outbox
from casestream.persistence.upserts import any_of
from casestream.shutdown import cancel_and_wait

log = get_logger(__name__)

LOCK_NAMESPACE = 0x0C45E  # first half of the two-int advisory lock key
BUSY_LINGER = 4  # times the linger, while batches come with more than one row


def _due_rows() -> sa.Select[Any]:
    """The rows to publish next from the shards held (built once: the relay runs it often)."""
    o, waiting = outbox, outbox.alias("waiting")
    # A key whose earlier row is waiting to be retried waits with it: order per key holds.
    # The waiting rows are found once per query (MATERIALIZED), not once per due row: the
    # planner, thinking the outbox nearly empty, otherwise rescans every unpublished row for
    # each one (15,000 buffers and 7 ms for 66 due rows under load).
    retrying = (
        sa.select(waiting.c.key, sa.func.min(waiting.c.id).label("first_id"))
        .where(
            waiting.c.published_at.is_(None),
            waiting.c.parked_at.is_(None),
            waiting.c.next_attempt_at > sa.func.now(),
        )
        .group_by(waiting.c.key)
        .cte("retrying")
        .prefix_with("MATERIALIZED")
    )
    blocked = sa.select(1).where(retrying.c.key == o.c.key, retrying.c.first_id < o.c.id).exists()
    return (
        # The payload as the text it was stored from: sent as is, never decoded here.
        sa.select(
            o.c.id,
            o.c.topic,
            o.c.key,
            sa.cast(o.c.payload, sa.Text).label("payload"),
            o.c.headers,
            o.c.attempts,
        )
        .where(
            o.c.published_at.is_(None),
            o.c.parked_at.is_(None),
            o.c.shard == sa.any_(sa.bindparam("shards", type_=ARRAY(sa.SmallInteger))),
            sa.or_(o.c.next_attempt_at.is_(None), o.c.next_attempt_at <= sa.func.now()),
            ~blocked,
        )
        .order_by(o.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


_DUE_ROWS = _due_rows()


def _transient(error: BaseException) -> bool:
    """The broker is away (not this row's fault): retry without counting an attempt."""
    if isinstance(error, (asyncio.TimeoutError, ConnectionError)):
        return True
    return isinstance(error, KafkaError) and bool(getattr(error, "retriable", False))


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        broker: KafkaBroker,
        *,
        service: str,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        max_attempts: int = 10,
        publish_timeout_s: float = 10.0,
        outbox_retention: timedelta = timedelta(hours=72),
        inbox_retention: timedelta = timedelta(days=14),
        linger_s: float = 0.005,
        check_every_s: float = 5.0,
    ) -> None:
        self.database = database
        self.broker = broker
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.publish_timeout_s = publish_timeout_s
        self.outbox_retention = outbox_retention
        self.inbox_retention = inbox_retention
        self.linger_s = linger_s
        self.check_every_s = check_every_s
        # The database's own set: its writers skip NOTIFY for the shards held here.
        self.shards: set[int] = database.local_shards
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock_conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._last_done: dict[str, float] = {}
        self._backlog_known = False
        self._busy = False  # the last batch had more than one row

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.database.on_outbox_commit(self.wake)
        self._task = asyncio.create_task(self.run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        await cancel_and_wait(self._task, 10, "outbox relay")
        self._task = None
        await self._release_locks()

    async def run(self) -> None:
        backoff = self.poll_interval_s
        while not self._stopping:
            try:
                await self._hold_shards()
                published = await self.publish_batch() if self.shards else 0
                self._busy = published > 1
                await self._prune_now_and_then()
                backoff = self.poll_interval_s
                if published >= self.batch_size:
                    self._backlog_known = False
                    continue  # a full batch: there is more, drain before sleeping
                # A short batch took all that was due: what commits meanwhile wakes us, so no
                # empty poll to prove it. The backlog is counted when idle, or every few
                # seconds under load.
                if published:
                    self._backlog_known = False
                if (not published and not self._backlog_known) or self._due("backlog"):
                    await self._report_backlog()
                    self._backlog_known = True
            except asyncio.CancelledError:
                raise
            except Exception as error:  # database or broker away: back off and try again
                log.warning("outbox relay cycle failed", error=repr(error))
                await self._release_locks()
                backoff = min(backoff * 2, 30.0)
            await self._sleep(backoff)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        if self._wake.is_set() and not self._stopping:
            # Let the commits of this moment gather; longer while they come several at a
            # time (a batch of one means a quiet moment, where waiting only adds latency).
            await asyncio.sleep(self.linger_s * (BUSY_LINGER if self._busy else 1))
        self._wake.clear()

    def _due(self, what: str) -> bool:
        """True at most once every ``check_every_s`` for each ``what``."""
        now = asyncio.get_running_loop().time()
        if now - self._last_done.get(what, -self.check_every_s) < self.check_every_s:
            return False
        self._last_done[what] = now
        return True

    async def _hold_shards(self) -> None:
        """Take every shard no other relay holds (and keep the ones we have)."""
        if self._lock_conn is None or self._lock_conn.is_closed():
            self.shards.clear()
            self._lock_conn = await asyncpg.connect(self.database.asyncpg_dsn(), timeout=10)
            await self._lock_conn.add_listener(OUTBOX_CHANNEL, lambda *_: self.wake())
        elif len(self.shards) == self.database.outbox_shards and not self._due("locks"):
            return  # all ours, and checked a moment ago
        else:
            await self._lock_conn.execute("SELECT 1")  # still ours?
        for shard in range(self.database.outbox_shards):
            if shard in self.shards:
                continue
            got = await self._lock_conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, shard
            )
            if got:
                self.shards.add(shard)

    async def _release_locks(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        self.shards.clear()
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await conn.close()

    async def publish_batch(self) -> int:
        """Publish one batch of due rows from our shards. Returns how many were published."""
        async with self.database.statements() as session:
            params = {"shards": sorted(self.shards), "limit": self.batch_size}
            rows = (await session.execute(_DUE_ROWS, params)).all()
        if not rows:
            return 0

        futures: list[Any] = []
        refused_keys: set[str] = set()
        for row in rows:
            if row.key in refused_keys:
                futures.append(None)  # held back: its key's earlier row was not even queued
                continue
            futures.append(future := await self._send(row))
            if isinstance(future, BaseException):
                refused_keys.add(row.key)
        done: list[int] = []
        failed: dict[int, tuple[Any, BaseException]] = {}
        failed_keys: set[str] = set()
        for row, future in zip(rows, futures, strict=True):
            if future is None:
                continue
            try:
                if isinstance(future, BaseException):
                    raise future
                async with asyncio.timeout(self.publish_timeout_s):
                    await future
            except Exception as error:
                failed[row.id] = (row, error)
                failed_keys.add(row.key)
                continue
            if row.key in failed_keys:
                continue  # published after its key's failed row: send again after it
            done.append(row.id)
            metrics.messages_published.labels(self.service, row.topic).inc()

        await self._record(done, failed)
        if failed and all(_transient(e) for _, e in failed.values()):
            raise ConnectionError(f"broker unavailable: {next(iter(failed.values()))[1]!r}")
        return len(done)

    async def _send(self, row: Any) -> Any:
        try:
            # Enqueueing can block too when the broker is away (a full buffer).
            async with asyncio.timeout(self.publish_timeout_s):
                return await self.broker.publish(
                    row.payload.encode(),
                    topic=row.topic,
                    key=row.key.encode(),
                    headers={**row.headers, "content-type": "application/json"},
                    correlation_id=row.headers.get("correlation_id"),
                    no_confirm=True,
                )
        except Exception as error:  # not even queued
            return error

    async def _record(self, done: list[int], failed: dict[int, tuple[Any, BaseException]]) -> None:
        # Each update stands alone: the batch sent is marked in one round trip.
        async with self.database.statements() as session:
            if done:
                await session.execute(
                    outbox.update()
                    .where(any_of(outbox.c.id, done))
                    .values(published_at=sa.func.now(), last_error=None)
                )
            for row_id, (row, error) in failed.items():
                if _transient(error):
                    continue
                attempts = row.attempts + 1
                delay = min(2**attempts, 300)
                parked = attempts >= self.max_attempts
                await session.execute(
                    outbox.update()
                    .where(outbox.c.id == row_id)
                    .values(
                        attempts=attempts,
                        last_error=repr(error)[:2000],
                        next_attempt_at=sa.func.now() + timedelta(seconds=delay),
                        parked_at=sa.func.now() if parked else None,
                    )
                )
                log.warning(
                    "outbox row failed" if not parked else "outbox row parked",
                    outbox_id=row_id,
                    topic=row.topic,
                    key=row.key,
                    attempts=attempts,
                    error=repr(error),
                )

    async def _report_backlog(self) -> None:
        # Two counts, each over its partial index: published rows (kept for days) are never
        # read.
        waiting = sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
        parked_rows = sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_not(None))
        async with self.database.session() as session:
            pending, parked = (
                await session.execute(
                    sa.select(
                        sa.select(sa.func.count()).where(waiting).scalar_subquery(),
                        sa.select(sa.func.count()).where(parked_rows).scalar_subquery(),
                    )
                )
            ).one()
        metrics.outbox_backlog.labels(self.service).set(pending)
        metrics.outbox_parked.labels(self.service).set(parked)

    async def _prune_now_and_then(self) -> None:
        """Published outbox rows and old inbox ids are kept for a while (to inspect, and to
        absorb late redeliveries), then deleted."""
        now = asyncio.get_running_loop().time()
        if now - self._last_prune < 600:
            return
        self._last_prune = now
        async with self.database.transaction() as tx:
            await tx.session.execute(
                outbox.delete().where(outbox.c.published_at < sa.func.now() - self.outbox_retention)
            )
            await tx.session.execute(
                inbox.delete().where(inbox.c.processed_at < sa.func.now() - self.inbox_retention)
            )


async def republish(database: Database, since: datetime) -> int:
    """Send again everything published since ``since`` (a broker that lost its data: the
    local one keeps it in memory), in the order it first went; the consumers' inboxes drop
    what they had already handled. How many rows. Rows the relay gave up on stay parked."""
    async with database.statements() as session:
        result = await session.execute(
            outbox.update()
            .where(outbox.c.published_at >= since, outbox.c.parked_at.is_(None))
            .values(published_at=None, attempts=0, next_attempt_at=None, last_error=None)
        )
        await session.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))
    return int(result.rowcount)
