"""Batch consumption on the real broker and database: one transaction per poll, a failing
message isolated from its neighbours, a process killed mid-batch, a rebalance mid-batch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from casestream.messaging.consumption import Subscription
from casestream.persistence.tables import inbox
from casestream.service import Runtime
from casestream.testing.plugin import eventually

from .conftest import effect_rows
from .notes import NoteEnvelope, note, produce, record_note


async def consuming(settings, topic: str, group: str) -> Runtime:
    runtime = Runtime(settings)
    runtime.subscribe_as(Subscription(topic, group, NoteEnvelope, record_note))
    await runtime.start()
    return runtime


async def count_at_least(database, n: int):
    rows = await effect_rows(database)
    return rows if len(rows) >= n else None


async def transactions_of(database, group: str) -> int:
    """How many transactions recorded ``group``'s inbox rows (now() is per transaction)."""
    async with database.session() as s:
        return (
            await s.execute(
                sa.select(sa.func.count(sa.distinct(inbox.c.processed_at))).where(
                    inbox.c.consumer == group
                )
            )
        ).scalar_one()


async def test_a_backlog_is_handled_in_a_few_transactions(
    settings, new_topic, kafka_bootstrap, database
):
    topic = await new_topic("backlog", partitions=3)
    await produce(
        kafka_bootstrap, topic, [note(f"m{i}", subject=f"s{i % 5}") for i in range(600)], key=None
    )
    runtime = await consuming(settings, topic, "backlog-test")
    try:
        await eventually(lambda: count_at_least(database, 600), timeout_s=30)
    finally:
        await runtime.stop()
    values = [v for _, v in await effect_rows(database)]
    assert sorted(values) == sorted(f"m{i}" for i in range(600))
    # Order per key: each subject's notes in the order they were produced.
    for s in range(5):
        mine = [int(v[1:]) for k, v in await effect_rows(database) if k == f"s{s}"]
        assert mine == sorted(mine)
    transactions = await transactions_of(database, "backlog-test")
    assert transactions <= 600 / 20, f"{transactions} transactions for 600 messages"


async def test_a_poison_message_in_the_middle_of_a_batch_costs_its_neighbours_nothing(
    settings, new_topic, kafka_bootstrap, database, read_topic
):
    topic = await new_topic("middle", partitions=1)
    before = [note(f"a{i}") for i in range(20)]
    after = [note(f"b{i}") for i in range(20)]
    await produce(kafka_bootstrap, topic, [*before, note("explode"), b"\xff not json", *after])
    runtime = await consuming(settings, topic, "middle-test")
    try:
        await eventually(lambda: count_at_least(database, 40), timeout_s=30)
        dead = await read_topic(f"{topic}.dlq", expected=2)
        await asyncio.sleep(0.5)  # a surplus (a neighbour handled twice) would show now
    finally:
        await runtime.stop()
    # Each neighbour once, in order: the batch's first try was rolled back as a whole.
    assert [v for _, v in await effect_rows(database)] == [
        *(f"a{i}" for i in range(20)),
        *(f"b{i}" for i in range(20)),
    ]
    headers = [dict((k, v.decode()) for k, v in r.headers) for r in dead]
    assert [h["dlq-original-offset"] for h in headers] == ["20", "21"]
    assert headers[0]["dlq-reason"] == "handler kept failing"
    assert headers[0]["dlq-attempts"] == str(settings.consume_max_attempts)
    assert headers[1]["dlq-reason"] == "invalid message"
    assert dead[1].value == b"\xff not json"


async def test_a_process_killed_mid_batch_has_everything_redelivered_and_each_effect_once(
    settings, new_topic, kafka_bootstrap, database, database_url
):
    topic = await new_topic("killed", partitions=3)
    group = "killed-test"
    await produce(
        kafka_bootstrap, topic, [note(f"m{i}", subject=f"s{i % 7}") for i in range(300)], key=None
    )
    dsn = database.asyncpg_dsn()
    blocker = await asyncpg.connect(dsn)
    process = None
    try:
        # The batch's transaction claims its inbox rows, then waits on the table the
        # handler writes to: the process is killed with a batch in flight.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE effects IN EXCLUSIVE MODE")
        process = _start_consumer(database_url, kafka_bootstrap, topic, group)
        waiting = await eventually(lambda: _waiting_inserts(database), timeout_s=30)
        assert waiting >= 1
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        await tx.rollback()
    finally:
        if process and process.poll() is None:
            process.kill()
        await blocker.close()
    assert await _committed(kafka_bootstrap, topic, group) == {}, "offsets moved before the kill"
    assert await effect_rows(database) == []

    runtime = await consuming(settings, topic, group)
    try:
        await eventually(lambda: count_at_least(database, 300), timeout_s=40)
        await asyncio.sleep(0.5)
    finally:
        await runtime.stop()
    values = [v for _, v in await effect_rows(database)]
    assert sorted(values) == sorted(f"m{i}" for i in range(300))  # none lost, none twice


async def test_a_rebalance_waits_for_the_batch_in_flight(
    settings, new_topic, kafka_bootstrap, database
):
    topic = await new_topic("rebalance", partitions=4)
    group = "rebalance-test"
    await produce(
        kafka_bootstrap, topic, [note(f"m{i}", subject=f"s{i % 9}") for i in range(200)], key=None
    )
    blocker = await asyncpg.connect(database.asyncpg_dsn())
    first = second = None
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE effects IN EXCLUSIVE MODE")
        first = await consuming(settings, topic, group)
        await eventually(lambda: _waiting_inserts(database), timeout_s=30)
        # A second member joins while the first one's batch is stuck in its transaction.
        joining = asyncio.create_task(consuming(settings, topic, group))
        await asyncio.sleep(6)  # long enough for the group to have moved on without waiting
        await tx.rollback()  # the batch goes on, commits, and only then are partitions moved
        second = await joining
        await eventually(lambda: count_at_least(database, 200), timeout_s=40)
        await eventually(lambda: _both_own_partitions(first, second), timeout_s=30)
        await produce(
            kafka_bootstrap,
            topic,
            [note(f"n{i}", subject=f"s{i % 9}") for i in range(40)],
            key=None,
        )
        await eventually(lambda: count_at_least(database, 240), timeout_s=30)
        await asyncio.sleep(0.5)
    finally:
        await blocker.close()
        for runtime in (first, second):
            if runtime is not None:
                await runtime.stop()
    values = [v for _, v in await effect_rows(database)]
    expected = [f"m{i}" for i in range(200)] + [f"n{i}" for i in range(40)]
    assert sorted(values) == sorted(expected)
    # The batch in flight committed its offsets before its partitions moved: nothing
    # was delivered a second time, not even as a duplicate the inbox had to drop.
    duplicates = REGISTRY.get_sample_value(
        "casestream_messages_consumed_total",
        {"service": settings.service_name, "topic": topic, "outcome": "duplicate"},
    )
    assert not duplicates, f"{duplicates} redelivered"


def _start_consumer(database_url: str, bootstrap: str, topic: str, group: str):
    script = Path(__file__).with_name("notes.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), database_url, bootstrap, topic, group],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _waiting_inserts(database) -> int:
    # Not on the connection holding the lock: in a transaction, pg_stat_activity is a
    # snapshot taken at its first read.
    async with database.session() as s:
        return (
            await s.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE 'INSERT INTO effects%'"
                )
            )
        ).scalar_one()


async def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        offsets = {}
        for p in parts:
            with contextlib.suppress(Exception):
                at = await consumer.committed(TopicPartition(topic, p))
                if at is not None:
                    offsets[p] = at
        return offsets
    finally:
        await consumer.stop()


async def _both_own_partitions(first: Runtime, second: Runtime) -> bool:
    return all(r.consumers[0].consumer.assignment() for r in (first, second))
