"""The transactional outbox and its relay, against real PostgreSQL and a real broker."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest
import sqlalchemy as sa

from casestream.envelope import new_envelope
from casestream.persistence.database import Database
from casestream.persistence.tables import outbox
from casestream.service import Runtime
from casestream.testing.plugin import records_until

from .conftest import body, effect_rows, effects


async def test_a_rolled_back_transaction_sends_nothing(settings, new_topic, kafka_bootstrap):
    topic = await new_topic("rollback")
    runtime = Runtime(settings)
    await runtime.start()
    try:
        with pytest.raises(RuntimeError):
            async with runtime.database.transaction() as tx:
                await tx.session.execute(effects.insert().values(key="k", value="lost"))
                await tx.publish(
                    topic, new_envelope(type="t.x", source="test", subject="k", data={"n": 0})
                )
                raise RuntimeError("the handler failed after writing")
        async with runtime.database.transaction() as tx:  # committed after: sent after
            await tx.publish(
                topic, new_envelope(type="t.x", source="test", subject="marker", data={"n": 1})
            )
        records = await records_until(kafka_bootstrap, topic, "marker", timeout_s=10)
    finally:
        await runtime.stop()
    assert records == []
    async with runtime.database.session() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(effects))).scalar() == 0


async def test_a_relay_stopped_between_publishing_and_marking_republishes(
    settings, new_topic, read_topic
):
    topic = await new_topic("crash")
    runtime = Runtime(settings)
    crashed = asyncio.Event()

    async def crash_before_marking(done, failed):
        crashed.set()
        raise ConnectionResetError("relay process died before marking rows published")

    runtime.relay._record = crash_before_marking  # the relay's own step, cut off
    async with runtime.database.transaction() as tx:
        for n in range(5):
            await tx.publish(
                topic, new_envelope(type="t.x", source="test", subject="k", data={"n": n})
            )
    await runtime.start()
    await asyncio.wait_for(crashed.wait(), 10)
    await runtime.stop()

    restarted = Runtime(settings)  # a new process: the rows are still unmarked
    await restarted.start()
    try:
        records = await read_topic(topic, expected=10, timeout_s=10)
        async with restarted.database.session() as s:
            unpublished = (
                await s.execute(
                    sa.select(sa.func.count())
                    .select_from(outbox)
                    .where(outbox.c.published_at.is_(None))
                )
            ).scalar()
    finally:
        await restarted.stop()
    ns = [body(r)["data"]["n"] for r in records]
    assert sorted(set(ns)) == [0, 1, 2, 3, 4]  # nothing lost
    assert len(ns) == 10  # each sent twice: a duplicate, never a loss
    assert unpublished == 0


KEYS = [f"case-{n}" for n in range(10)]


async def publish_to_every_key(database: Database, topic: str, seq: int) -> None:
    """One transaction publishing ``{"seq": seq}`` to ``topic`` once per key of KEYS."""
    async with database.transaction() as tx:
        for key in KEYS:
            await tx.publish(
                topic, new_envelope(type="t.x", source="test", subject=key, data={"seq": seq})
            )


def seqs_by_key(records: list) -> dict[str, list[int]]:
    """Each record key's ``seq`` values, in the order they were read."""
    seen: dict[str, list[int]] = defaultdict(list)
    for r in records:
        seen[r.key.decode()].append(body(r)["data"]["seq"])
    return dict(seen)


async def test_order_holds_per_key(settings, new_topic, read_topic):
    topic = await new_topic("order", partitions=3)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        for batch in range(20):  # many transactions, interleaving the keys
            await publish_to_every_key(runtime.database, topic, batch)
        records = await read_topic(topic, expected=200)
    finally:
        await runtime.stop()
    assert len(records) == 200
    assert seqs_by_key(records) == {key: list(range(20)) for key in KEYS}


async def test_a_row_that_keeps_failing_is_parked_and_does_not_block_others(
    settings, new_topic, read_topic
):
    topic = await new_topic("park")
    settings.outbox_max_attempts = 2
    runtime = Runtime(settings)
    real_send = runtime.relay._send

    async def send(row):
        if row.key == "poison":
            return ValueError("this record can never be sent")
        return await real_send(row)

    runtime.relay._send = send
    async with runtime.database.transaction() as tx:
        await tx.publish(topic, new_envelope(type="t.x", source="test", subject="poison", data={}))
        await tx.publish(topic, new_envelope(type="t.x", source="test", subject="fine", data={}))
    await runtime.start()
    try:
        records = await read_topic(topic, expected=1, timeout_s=5)
        await asyncio.sleep(0)  # let the relay finish its cycle

        async def parked():
            async with runtime.database.session() as s:
                return (
                    await s.execute(
                        sa.select(outbox.c.attempts, outbox.c.last_error).where(
                            outbox.c.parked_at.is_not(None)
                        )
                    )
                ).all()

        rows = []
        for _ in range(100):
            rows = await parked()
            if rows:
                break
            runtime.relay.wake()
            await asyncio.sleep(0.1)
            async with runtime.database.transaction() as tx:  # skip the backoff wait
                await tx.session.execute(outbox.update().values(next_attempt_at=None))
    finally:
        await runtime.stop()
    assert [r.key.decode() for r in records] == ["fine"]
    assert len(rows) == 1 and rows[0].attempts == 2 and "can never be sent" in rows[0].last_error


async def test_a_row_waiting_to_be_retried_holds_back_the_later_rows_of_its_key(
    settings, new_topic, read_topic, kafka_bootstrap
):
    """The first of two rows for one key fails once: the second is not sent before the
    first's retry (a row of another key, written after it, goes meanwhile); a row of another
    key goes at once."""
    topic = await new_topic("retry-order")
    runtime = Runtime(settings)
    real_send, failed = runtime.relay._send, []

    async def send(row):
        if row.key == "k" and body_of(row)["data"]["seq"] == 1 and not failed:
            failed.append(row.id)
            return ValueError("the first try fails")
        return await real_send(row)

    runtime.relay._send = send
    async with runtime.database.transaction() as tx:
        for key, seq in (("k", 1), ("k", 2), ("other", 1)):
            await tx.publish(
                topic, new_envelope(type="t.x", source="test", subject=key, data={"seq": seq})
            )
    await runtime.start()
    try:
        first = await read_topic(topic, expected=1, timeout_s=5)
        for _ in range(5):  # polls while the failed row waits for its retry
            runtime.relay.wake()
            await asyncio.sleep(0.1)
        async with runtime.database.transaction() as tx:  # after k:2, so sent after it if free
            await tx.publish(
                topic, new_envelope(type="t.x", source="test", subject="marker", data={"seq": 1})
            )
        held_back = await records_until(kafka_bootstrap, topic, "marker", timeout_s=10)
        async with runtime.database.transaction() as tx:  # skip the backoff wait
            await tx.session.execute(outbox.update().values(next_attempt_at=None))
        runtime.relay.wake()
        records = await read_topic(topic, expected=4)
    finally:
        await runtime.stop()
    assert failed and [r.key.decode() for r in first] == ["other"]
    assert [r.key.decode() for r in held_back] == ["other"]
    sent = [(r.key.decode(), body(r)["data"]["seq"]) for r in records]
    # Keys sit on different partitions: order holds per key, once each.
    assert [s for s in sent if s[0] == "k"] == [("k", 1), ("k", 2)]
    assert sorted(sent) == [("k", 1), ("k", 2), ("marker", 1), ("other", 1)]


def body_of(row) -> dict:
    """An outbox row's envelope, as the relay has it."""
    return json.loads(row.payload)


async def test_two_relays_split_the_keys_and_keep_their_order(settings, new_topic, read_topic):
    """Replicas share the outbox: each shard (so each key) has exactly one publisher."""
    topic = await new_topic("replicas", partitions=3)
    first, second = Runtime(settings), Runtime(settings)
    await first.start()
    await second.start()
    try:
        for batch in range(10):
            writer = first if batch % 2 else second
            await publish_to_every_key(writer.database, topic, batch)
        records = await read_topic(topic, expected=100)
        shards = (set(first.relay.shards), set(second.relay.shards))
    finally:
        await first.stop()
        await second.stop()
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(range(settings.outbox_shards))
    assert len(records) == 100
    assert seqs_by_key(records) == {key: list(range(10)) for key in KEYS}


async def test_a_commit_in_another_process_wakes_the_relay_at_once(settings, new_topic, read_topic):
    """NOTIFY wakes the relay long before its polling interval comes round."""
    topic = await new_topic("wake")
    settings.outbox_poll_interval_s = 60.0
    relay_side = Runtime(settings)
    await relay_side.start()
    other = Database(settings.database_url, outbox_shards=settings.outbox_shards)  # no relay
    try:
        await asyncio.sleep(1)  # the relay has drained and sleeps for a minute
        started = asyncio.get_running_loop().time()
        async with other.transaction() as tx:
            await tx.publish(topic, new_envelope(type="t.x", source="test", subject="k", data={}))
        records = await read_topic(topic, expected=1, timeout_s=20)
        waited = asyncio.get_running_loop().time() - started
    finally:
        await other.dispose()
        await relay_side.stop()
    assert len(records) == 1
    assert waited < 15  # the reader's own group join takes a few seconds; polling would take 60


async def test_one_statement_stores_and_announces_or_does_neither(
    settings, new_topic, read_topic, kafka_bootstrap
):
    """``store_announcing``: the row and its message in one statement. What it stores is
    sent (and wakes the relay in another process); what it declines to store sends
    nothing."""
    topic = await new_topic("announcing")
    settings.outbox_poll_interval_s = 60.0
    relay_side = Runtime(settings)
    await relay_side.start()
    other = Database(settings.database_url, outbox_shards=settings.outbox_shards)  # no relay
    store = sa.text(
        "INSERT INTO effects (key, value) SELECT :key, :value "
        "WHERE NOT EXISTS (SELECT FROM effects WHERE key = :key) RETURNING id, key"
    )

    def announcement(value: str):
        return new_envelope(type="t.x", source="test", subject="k", data={"value": value})

    try:
        await asyncio.sleep(1)  # the relay has drained and sleeps for a minute
        params = {"key": "once", "value": "first"}
        stored = await other.store_announcing(store, params, topic, announcement("first"))
        declined = await other.store_announcing(
            store, params | {"value": "second"}, topic, announcement("second")
        )
        await read_topic(topic, expected=1, timeout_s=20)  # woken: polling would take 60 s
        marker = new_envelope(type="t.x", source="test", subject="marker", data={"value": "-"})
        await other.store_announcing(store, {"key": "marker", "value": "-"}, topic, marker)
        records = await records_until(kafka_bootstrap, topic, "marker")  # nothing between
        async with other.session() as s:
            rows = (await s.execute(sa.select(outbox.c.payload))).scalars().all()
        stored_effects = await effect_rows(other)
    finally:
        await other.dispose()
        await relay_side.stop()
    assert stored is not None and stored.key == "once" and declined is None
    assert [body(r)["data"]["value"] for r in records] == ["first"]
    assert [row["data"]["value"] for row in rows] == ["first", "-"]
    assert stored_effects == [("once", "first"), ("marker", "-")]
