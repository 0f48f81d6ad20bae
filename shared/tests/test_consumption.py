"""Consumers: inbox, bounded retries and dead letters, restarts, on the real broker."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from casestream.messaging.consumption import Subscription
from casestream.service import Runtime
from casestream.testing.plugin import eventually

from .conftest import effect_rows
from .notes import NoteEnvelope, note, produce, record_note


async def consuming(settings, topic: str, group: str, workers: int = 1) -> Runtime:
    runtime = Runtime(settings)
    runtime.subscribe_as(Subscription(topic, group, NoteEnvelope, record_note), workers=workers)
    await runtime.start()
    return runtime


async def test_the_same_message_delivered_ten_times_has_one_effect(
    settings, new_topic, kafka_bootstrap, database
):
    topic = await new_topic("inbox")
    message = note("once")
    await produce(kafka_bootstrap, topic, [message] * 10 + [note("after")])
    runtime = await consuming(settings, topic, "inbox-test")
    try:
        rows = await eventually(lambda: _with_value(database, "after"))
    finally:
        await runtime.stop()
    assert [v for _, v in rows] == ["once", "after"]


async def _with_value(database, value):
    rows = await effect_rows(database)
    return rows if any(v == value for _, v in rows) else None


async def test_a_poison_message_is_dead_lettered_and_the_hundred_behind_it_are_processed(
    settings, new_topic, kafka_bootstrap, database, read_topic
):
    topic = await new_topic("poison", partitions=1)
    behind = [note(f"m{i}") for i in range(100)]
    await produce(
        kafka_bootstrap, topic, [b"{not json", {"id": "nope", "data": {}}, note("explode"), *behind]
    )
    runtime = await consuming(settings, topic, "poison-test")
    try:
        await eventually(lambda: _count_at_least(database, 100), timeout_s=30)
        dead = await read_topic(f"{topic}.dlq", expected=3)
    finally:
        await runtime.stop()
    assert [v for _, v in await effect_rows(database)] == [f"m{i}" for i in range(100)]
    assert len(dead) == 3
    headers = [dict((k, v.decode()) for k, v in r.headers) for r in dead]
    assert headers[0]["dlq-reason"] == "invalid message"
    assert (
        headers[1]["dlq-reason"] == "invalid message"
        and "ValidationError" in headers[1]["dlq-error"]
    )
    assert headers[2]["dlq-reason"] == "handler kept failing"
    assert "always fails" in headers[2]["dlq-error"]
    assert headers[2]["dlq-attempts"] == str(settings.consume_max_attempts)
    assert [h["dlq-original-offset"] for h in headers] == ["0", "1", "2"]
    assert all(
        h["dlq-original-topic"] == topic and h["dlq-original-partition"] == "0" for h in headers
    )
    assert dead[0].value == b"{not json"


async def _count_at_least(database, n):
    rows = await effect_rows(database)
    return len(rows) >= n


async def test_a_consumer_restarted_mid_batch_skips_nothing(
    settings, new_topic, kafka_bootstrap, database
):
    topic = await new_topic("restart", partitions=3)
    await produce(
        kafka_bootstrap, topic, [note(f"slow m{i}", subject=f"s{i % 7}") for i in range(300)]
    )
    # Three consumers in the group, each committing its own partitions' offsets, in small
    # batches so that the stop finds one in flight.
    settings.consume_batch_size = 5
    first = await consuming(settings, topic, "restart-test", workers=3)
    await eventually(lambda: _count_at_least(database, 40), timeout_s=30, interval_s=0.01)
    await first.stop()  # mid-batch: some handled and committed, the rest not yet
    handled_before = len(await effect_rows(database))

    second = await consuming(settings, topic, "restart-test", workers=3)
    try:
        await eventually(lambda: _count_at_least(database, 300), timeout_s=40)
    finally:
        await second.stop()
    values = [v for _, v in await effect_rows(database)]
    assert handled_before < 300
    assert sorted(values) == sorted(f"slow m{i}" for i in range(300))  # none skipped, none twice


async def test_a_database_cut_off_more_often_than_the_retries_dead_letters_nothing(
    settings, new_topic, kafka_bootstrap, database, read_topic
):
    """While the database is out of reach (here: each try's connection is terminated by the
    server, as a restart does), a message waits without using up its attempts."""
    cuts = settings.consume_max_attempts + 3
    cut = {"left": cuts}

    async def cut_off_then_record(envelope: NoteEnvelope, tx) -> None:
        if cut["left"] > 0:
            cut["left"] -= 1
            await tx.session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        await record_note(envelope, tx)

    topic = await new_topic("cut-off", partitions=1)
    await produce(kafka_bootstrap, topic, [note("waited"), note("explode"), note("after")])
    runtime = Runtime(settings)
    runtime.policy = dataclasses.replace(runtime.policy, backoff_max_s=0.2)
    runtime.subscribe_as(Subscription(topic, "cut-off-test", NoteEnvelope, cut_off_then_record))
    await runtime.start()
    try:
        rows = await eventually(lambda: _with_value(database, "after"), timeout_s=60)
        # The one that always fails still goes to the DLQ: only unreachability is spared.
        dead = await read_topic(f"{topic}.dlq", expected=1)
    finally:
        await runtime.stop()
    assert cut["left"] == 0
    assert [v for _, v in rows] == ["waited", "after"]
    assert [dict(dead[0].headers)["dlq-reason"]] == [b"handler kept failing"]
