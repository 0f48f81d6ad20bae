"""automation-svc running for real (migrated PostgreSQL, the test broker, its lifespan)
behind an httpx client, a way to deliver case events, and a reader of notify.commands."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

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
from casestream.testing.plugin import records_on
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
        records = await records_on(
            self.kafka_bootstrap,
            self.settings.topic(topics.NOTIFY_COMMANDS),
            expected=expected,
            timeout_s=timeout_s,
            keys={str(case_id)},
            grace_s=1.0,
        )
        return [json.loads(r.value) for r in records]


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
