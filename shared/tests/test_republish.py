"""After a broker lost messages, the outbox sends again what it published; the consumers'
inboxes drop what they had handled, so each message has its effect once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from casestream.envelope import new_envelope
from casestream.messaging.consumption import Subscription
from casestream.messaging.relay import republish
from casestream.persistence.tables import outbox
from casestream.service import Runtime
from casestream.testing.plugin import eventually

from .conftest import effect_rows
from .notes import NoteEnvelope, record_note


async def publish_notes(database, topic: str, texts: list[str]) -> None:
    async with database.transaction() as tx:
        for text in texts:
            await tx.publish(
                topic, new_envelope(type="note", source="test", subject="k", data={"text": text})
            )


async def test_what_the_broker_lost_is_sent_again_and_has_its_effect_once(
    settings, new_topic, database
):
    topic = await new_topic("lost", partitions=1)
    since = datetime.now(UTC) - timedelta(seconds=1)
    runtime = Runtime(settings)
    runtime.subscribe_as(Subscription(topic, "republish-test", NoteEnvelope, record_note))
    await runtime.start()
    try:
        await publish_notes(runtime.database, topic, [f"sent {n}" for n in range(5)])
        await eventually(lambda: _values_at_least(database, 5))
        # Three more went to a broker that then lost them: marked published, never read.
        await lost_on_the_way(runtime.database, topic, [f"lost {n}" for n in range(3)])

        assert await republish(runtime.database, since) == 8
        await eventually(lambda: _values_at_least(database, 8), timeout_s=20)
        await eventually(lambda: _all_published(database))
        # A marker after them: anything doubled would have arrived before it.
        await publish_notes(runtime.database, topic, ["marker"])
        await eventually(lambda: _values_at_least(database, 9))
    finally:
        await runtime.stop()
    values = [v for _, v in await effect_rows(database)]
    assert values == [f"sent {n}" for n in range(5)] + [f"lost {n}" for n in range(3)] + ["marker"]


async def lost_on_the_way(database, topic: str, texts: list[str]) -> None:
    async with database.transaction() as tx:
        for text in texts:
            envelope = new_envelope(type="note", source="test", subject="k", data={"text": text})
            row = database.outbox_row(topic, envelope)
            payload = row.pop("payload_json")
            await tx.session.execute(
                outbox.insert().values(
                    **row, payload=json.loads(payload), published_at=sa.func.now()
                )
            )


async def _values_at_least(database, n: int) -> bool:
    return len(await effect_rows(database)) >= n


async def _all_published(database) -> bool:
    async with database.session() as s:
        pending = await s.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    return pending == 0
