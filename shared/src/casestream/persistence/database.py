"""Engine, connections and the transaction that carries a state change and its messages."""

from __future__ import annotations

import contextlib
import functools
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from casestream.envelope import Envelope
from casestream.messaging import holding
from casestream.persistence.tables import inbox, outbox

OUTBOX_CHANNEL = "casestream_outbox"


class PayloadTooLarge(ValueError):
    pass


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is out of reach (restarting, connections dropped,
    refusing connections), not that the work was wrong: such work is tried again later, and
    costs no retry attempt. SQLAlchemy's own disconnect test marks ``connection_invalidated``;
    SQLSTATE class 08 (connection exception) and 57P (the server shutting down or starting) and
    a refused socket say the same."""
    seen: BaseException | None = error
    for _ in range(6):  # the chain: SQLAlchemy's error, the driver's, its cause
        if seen is None:
            return False
        if isinstance(seen, OSError) or getattr(seen, "connection_invalidated", False):
            return True
        sqlstate = str(getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None) or "")
        if sqlstate.startswith(("08", "57P")):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


# The inbox claim of a batch (built once: every batch of every consumer runs it).
_CLAIM = (
    insert(inbox)
    .from_select(
        ["consumer", "message_id"],
        sa.select(
            sa.bindparam("consumer", type_=sa.Text),
            sa.func.unnest(
                sa.bindparam("ids", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
            ),
        ),
    )
    .on_conflict_do_nothing()
    .returning(inbox.c.message_id)
)
# The payload arrives as the envelope's JSON text (pydantic wrote it once): stored as is.
_OUTBOX_INSERT = outbox.insert().values(
    payload=sa.cast(sa.bindparam("payload_json", type_=sa.Text), postgresql.JSONB)
)


@functools.cache
def _announcing(store: sa.TextClause, wake_others: bool) -> sa.TextClause:
    """``store`` with the outbox row of what it stored (a data-modifying CTE runs whether or
    not the query reads it; the row is written once per stored row, so once or not at all)."""
    wake = f", pg_notify('{OUTBOX_CHANNEL}', '')" if wake_others else ""
    return sa.text(
        f"""
        WITH stored AS ({store.text}),
        announced AS (
            INSERT INTO outbox (topic, key, shard, message_id, payload, headers)
            SELECT CAST(:outbox_topic AS text), CAST(:outbox_key AS text),
                   CAST(:outbox_shard AS smallint), CAST(:outbox_message_id AS uuid),
                   CAST(:outbox_payload_json AS jsonb), CAST(:outbox_headers AS jsonb)
            FROM stored
        )
        SELECT stored.*{wake} FROM stored
        """
    )


def shard_of(key: str, shards: int) -> int:
    # crc32, not hash(): the same on every replica and every run.
    return zlib.crc32(key.encode()) % shards


class Transaction:
    """One database transaction: ``session``, its connection, for the service's own tables
    (SQLAlchemy Core: every table is a ``Table``, no ORM), plus ``publish`` (messages
    committed with the state change) and ``claim_message`` (the inbox).
    """

    def __init__(self, session: AsyncConnection, database: Database) -> None:
        self.session = session
        self._database = database
        self.published = 0
        self._outbox: list[dict[str, Any]] = []
        self.committed_callbacks: list[Callable[[], None]] = []
        self._read_once: dict[Any, Any] = {}
        # Set by the consumer of a subscription that holds (casestream.messaging.holding).
        self.holding: holding.Holding | None = None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed (e.g. wake a local worker
        that should pick up what it wrote); never if it rolls back."""
        self.committed_callbacks.append(callback)

    def hold(self, envelope: Envelope[Any], awaiting: str | None) -> None:
        """Handle ``envelope``, one of the consumed batch's, later: it came before
        ``awaiting`` (for batch handlers; a handler of one message raises ``NotYet``). The
        later messages of its key in the batch must wait too (``tx.holding.holds``); a
        condition on the key itself (the case a message is about) holds them anyway."""
        if self.holding is None:
            raise holding.NotYet(awaiting or "an earlier message of its key")
        self.holding.hold(envelope, awaiting)

    async def release(self, awaiting: Iterable[str]) -> None:
        """What ``awaiting`` names is here: the messages held for it are handled again
        once this transaction commits."""
        if await holding.release(self, awaiting):
            self.committed_callbacks.extend(self._database.release_listeners)

    async def read_once(self, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        """``await read()`` the first time ``key`` is asked for in this transaction, the same
        answer after: the messages of one consumed batch share their transaction, so what
        they all need (rules, definitions, templates) is read once per batch, and a change
        committed since is seen by the next batch."""
        if key not in self._read_once:
            self._read_once[key] = await read()
        return self._read_once[key]

    def forget(self, key: Any) -> None:
        """This transaction changed what ``key`` read: read it again when next asked."""
        self._read_once.pop(key, None)

    async def publish(
        self, topic: str, envelope: Envelope[Any], headers: dict[str, str] | None = None
    ) -> None:
        await self.publish_many([(topic, envelope)], headers)

    async def publish_many(
        self, messages: list[tuple[str, Envelope[Any]]], headers: dict[str, str] | None = None
    ) -> None:
        """Messages to send once this transaction commits. They are kept here and written to
        the outbox together, in the order published, in one statement at commit."""
        self._outbox += [self._database.outbox_row(t, e, headers) for t, e in messages]

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint: if the block raises, what it wrote and published is taken back."""
        published = len(self._outbox)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._outbox[published:]
            raise

    async def write_outbox(self) -> None:
        """Write the messages published so far (the transaction does it before committing)."""
        rows, self._outbox = self._outbox, []
        if not rows:
            return
        await self.session.execute(_OUTBOX_INSERT, rows)
        if self._database.outbox_notify:
            local = self._database.local_shards
            if any(row["shard"] not in local for row in rows):
                # A wake-up call for the relay in another process that holds the shard (they
                # poll as well). The relay in this process is woken after commit instead.
                await self.session.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))
        self.published += len(rows)

    async def claim_message(self, consumer: str, message_id: Any) -> bool:
        """Record that ``consumer`` is handling ``message_id``. False if it already did: the
        caller then does nothing. Concurrent duplicates wait on the key and then get False."""
        return bool(await self.claim_messages(consumer, [message_id]))

    async def claim_messages(self, consumer: str, message_ids: list[Any]) -> set[Any]:
        """``claim_message`` for a batch in one statement: the ids not seen before."""
        result = await self.session.execute(
            _CLAIM, {"consumer": consumer, "ids": list(message_ids)}
        )
        return set(result.scalars())


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        outbox_shards: int = 8,
        outbox_notify: bool = True,
        max_message_bytes: int = 1_000_000,
    ) -> None:
        self.url = url
        # No pre-ping: it costs a round trip per checkout. A connection that died is
        # discarded when it fails, and the request or message is retried.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )
        # Connections, not ORM sessions: nothing here maps classes, and a Core connection
        # runs each statement with a quarter less CPU.
        # The same pool, each statement its own transaction (statements, store_announcing).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.outbox_shards = outbox_shards
        self.outbox_notify = outbox_notify
        self.max_message_bytes = max_message_bytes
        # The outbox shards this process's relay holds (the relay keeps this set current).
        self.local_shards: set[int] = set()
        self._after_publish: list[Callable[[], None]] = []
        self.release_listeners: list[Callable[[], None]] = []

    def outbox_row(
        self, topic: str, envelope: Envelope[Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The outbox row that sends ``envelope`` (its payload the JSON text, written once)."""
        payload = envelope.model_dump_json()
        size = len(payload.encode())
        if size > self.max_message_bytes:
            raise PayloadTooLarge(
                f"message {envelope.type} for {envelope.subject} is {size} bytes; "
                f"the limit is {self.max_message_bytes}"
            )
        return dict(
            topic=topic,
            key=envelope.subject,
            shard=shard_of(envelope.subject, self.outbox_shards),
            message_id=envelope.id,
            payload_json=payload,
            headers={"correlation_id": envelope.correlation_id, **(headers or {})},
        )

    async def store_announcing(
        self,
        store: sa.TextClause,
        params: dict[str, Any],
        topic: str,
        envelope: Envelope[Any],
    ) -> Any | None:
        """Run ``store``, an ``INSERT ... RETURNING`` that stores at most one row, and if it
        stored one, write ``envelope``'s outbox row in the same statement: atomic as a
        transaction, in one round trip where a transaction takes four (BEGIN, the insert,
        the outbox, COMMIT). The returned row, or None (nothing stored, nothing sent). For an
        accept path that does nothing else (intake-svc's posts)."""
        row = self.outbox_row(topic, envelope)
        wake_others = self.outbox_notify and row["shard"] not in self.local_shards
        params = params | {f"outbox_{name}": value for name, value in row.items()}
        params["outbox_headers"] = json.dumps(params["outbox_headers"])
        async with self._autocommit.connect() as conn:
            stored = (await conn.execute(_announcing(store, wake_others), params)).first()
        if stored is not None:
            for callback in self._after_publish:
                callback()
        return stored

    def on_release(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after a transaction that released held messages commits."""
        self.release_listeners.append(callback)

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after a transaction that wrote outbox rows commits (the relay
        in this process wakes at once)."""
        self._after_publish.append(callback)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.engine.begin() as connection:
            tx = Transaction(connection, self)
            yield tx
            await tx.write_outbox()
        for callback in tx.committed_callbacks:
            callback()
        if tx.published:
            for callback in self._after_publish:
                callback()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (no outbox); what it began is rolled back after."""
        async with self.engine.connect() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A session whose statements each commit on their own: no BEGIN and COMMIT (or
        ROLLBACK) around them, two round trips fewer. For work done many times a second
        whose statements stand alone (the relay reading due rows and marking them sent)."""
        async with self._autocommit.connect() as connection:
            yield connection

    def asyncpg_dsn(self) -> str:
        return (
            sa.make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
