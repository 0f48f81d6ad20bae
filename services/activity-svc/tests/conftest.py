"""activity-svc running for real (migrated PostgreSQL, the test broker, its lifespan) behind
an httpx client, plus ways to put messages on its input topics and read what it says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream import topics
from casestream.envelope import Envelope
from casestream.testing.plugin import records_on
from casestream.testing.services import (
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)

MIGRATIONS = Path(__file__).parents[1] / "src" / "activity_svc" / "migrations"


@dataclass
class ActivityService:
    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer
    kafka_bootstrap: str

    async def deliver(self, topic: str, envelope: Envelope[Any], key: str | None = None) -> None:
        """Put ``envelope`` on one of the service's input topics, as its owner would."""
        await self.producer.send_and_wait(
            self.settings.topic(topic),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            key=(key or envelope.subject).encode(),
        )

    async def said(self, subject: str, expected: int, timeout_s: float = 15.0) -> list[dict]:
        """What the service said on activity.events about ``subject``: waits for ``expected``
        messages, then a little longer so that a surplus shows."""
        records = await records_on(
            self.kafka_bootstrap,
            self.settings.topic(topics.ACTIVITY_EVENTS),
            expected=expected,
            timeout_s=timeout_s,
            keys={subject},
            grace_s=1.0,
        )
        return [json.loads(r.value) for r in records]


@pytest.fixture(scope="package")
async def service(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[ActivityService]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "activity", MIGRATIONS)
    settings = settings_for_tests(
        Settings,
        database_url=url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        # A window of a few seconds for a case type definition to arrive after its case.
        consume_max_attempts=20,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with running(create_app(settings)) as client:
            yield ActivityService(client, settings, producer, kafka_bootstrap)
    finally:
        await producer.stop()
