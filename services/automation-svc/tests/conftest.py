"""automation-svc running for real (migrated PostgreSQL, the test broker, its lifespan)
behind an httpx client, a way to deliver case events, and a reader of notify.commands."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from automation_svc.config import Settings
from automation_svc.main import create_app
from casestream import topics
from casestream.contracts.case import (
    CASE_OPENED,
    CaseEnvelope,
    CaseEvent,
    CaseState,
    ContactState,
)
from casestream.envelope import Envelope, new_envelope
from casestream.testing.services import (
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)

MIGRATIONS = Path(__file__).parents[1] / "src" / "automation_svc" / "migrations"
WHEN = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def case_opened(case_type: str = "general_enquiry", **custom: Any) -> CaseEnvelope:
    case = CaseState(
        id=uuid.uuid4(),
        instance="cases",
        case_type=case_type,
        case_type_version=1,
        subject="Noise at night",
        status="open",
        status_class="opened",
        active=True,
        clients=[ContactState(id=uuid.uuid4(), first_name="Ada", email="ada@example.org")],
        custom=custom,
        start_date=date(2025, 3, 3),
        created_at=WHEN,
        updated_at=WHEN,
        version=1,
    )
    envelope = new_envelope(
        type=CASE_OPENED, source="case-svc", subject=str(case.id), data=CaseEvent(case=case)
    )
    return CaseEnvelope.model_validate(envelope.model_dump())


async def reader(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A consumer of every partition of ``topic`` from the start, without a group (joining
    one costs seconds)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    await consumer.topics()  # fetches the metadata
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer


@dataclass
class AutomationService:
    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer
    kafka_bootstrap: str
    app: Any
    case_opened = staticmethod(case_opened)

    async def deliver(self, envelope: Envelope[Any], times: int = 1) -> None:
        raw = json.dumps(envelope.model_dump(mode="json")).encode()
        for _ in range(times):
            await self.producer.send_and_wait(
                self.settings.topic(topics.CASE_EVENTS), raw, key=envelope.subject.encode()
            )

    async def commands(self, case_id: Any, expected: int, timeout_s: float = 15.0) -> list[dict]:
        """The commands said on notify.commands about a case: waits for ``expected``, then a
        second longer so that a surplus shows."""
        consumer = await reader(self.kafka_bootstrap, self.settings.topic(topics.NOTIFY_COMMANDS))
        found: list[dict] = []
        try:
            loop = asyncio.get_running_loop()
            deadline, grace = loop.time() + timeout_s, None
            while loop.time() < (grace or deadline):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [
                        json.loads(r.value) for r in records if r.key.decode() == str(case_id)
                    ]
                if len(found) >= expected and grace is None:
                    grace = loop.time() + 1.0
        finally:
            await consumer.stop()
        return found


@pytest.fixture(scope="session")
async def service(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[AutomationService]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "automation", MIGRATIONS)
    settings = settings_for_tests(
        Settings, database_url=url, kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    app = create_app(settings)
    try:
        async with running(app) as client:
            yield AutomationService(client, settings, producer, kafka_bootstrap, app)
    finally:
        await producer.stop()
