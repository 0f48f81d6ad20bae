"""The test messages of the consumption tests: notes, a handler that stores each as one row
of the test table ``effects``, and a producer. Also runnable as a consumer process of its own (the SIGKILL
test kills it): ``python notes.py <database url> <bootstrap> <topic> <group>``."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from casestream.envelope import Envelope, new_envelope

effects = sa.Table(
    "effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
)


class Note(BaseModel):
    text: str


NoteEnvelope = Envelope[Note]


async def record_note(envelope: NoteEnvelope, tx: Any) -> None:
    """Store the note: one row per handled message."""
    if envelope.data.text == "explode":
        raise RuntimeError("this handler always fails on 'explode'")
    if envelope.data.text.startswith("slow "):
        await asyncio.sleep(0.02)  # a handler that takes its time: a stop finds it busy
    await tx.session.execute(
        effects.insert().values(key=envelope.subject, value=envelope.data.text)
    )


def note(text: str, subject: str = "k", id: uuid.UUID | None = None) -> dict[str, Any]:
    return new_envelope(
        type="note", source="test", subject=subject, data={"text": text}, id=id
    ).model_dump(mode="json")


async def produce(
    bootstrap: str, topic: str, values: list[bytes | dict[str, Any]], key: bytes | None = b"k"
) -> None:
    """Each value in order; keyed by ``key``, or by the note's subject when ``key`` is None."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for value in values:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            k = key if key is not None or isinstance(value, bytes) else value["subject"].encode()
            await producer.send(topic, raw, key=k)
        await producer.flush()
    finally:
        await producer.stop()


async def _consume_until_killed(database_url: str, bootstrap: str, topic: str, group: str) -> None:
    from casestream.messaging.consumption import Subscription
    from casestream.service import Runtime
    from casestream.settings import ServiceSettings

    settings = ServiceSettings(
        service_name="notes", database_url=database_url, kafka_bootstrap_servers=bootstrap
    )
    runtime = Runtime(settings)
    runtime.subscribe_as(Subscription(topic, group, NoteEnvelope, record_note))
    await runtime.start()
    print("consuming", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_consume_until_killed(*sys.argv[1:5]))
