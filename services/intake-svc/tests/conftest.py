"""intake-svc running for real (Postgres, broker, relay, consumer) behind an httpx client,
one per test module; tests keep apart by using their own form slugs."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

import intake_svc
from casestream import topics
from casestream.persistence.database import Database
from casestream.persistence.tables import outbox
from casestream.testing.plugin import eventually
from casestream.testing.services import (
    STAFF_HEADERS,
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)
from intake_svc.config import Settings
from intake_svc.main import create_app

MIGRATIONS = Path(intake_svc.__file__).parent / "migrations"

CONTACT_FORM: dict[str, Any] = {
    "title": "Contact us",
    "case_type": "general_enquiry",
    "enabled": True,
    "fields": [
        {
            "name": "first_name",
            "label": "First name",
            "type": "text",
            "required": True,
            "maps_to": "contact.first_name",
        },
        {
            "name": "last_name",
            "label": "Last name",
            "type": "text",
            "required": True,
            "maps_to": "contact.last_name",
        },
        {
            "name": "email",
            "label": "Email",
            "type": "email",
            "required": True,
            "maps_to": "contact.email",
        },
        {
            "name": "subject",
            "label": "Subject",
            "type": "text",
            "required": True,
            "maps_to": "case.subject",
        },
        {
            "name": "message",
            "label": "Message",
            "type": "textarea",
            "required": False,
            "maps_to": "case.details",
        },
        {
            "name": "topic",
            "label": "Topic",
            "type": "select",
            "options": ["billing", "other"],
            "maps_to": "case.custom.topic",
        },
    ],
    "duplicate_contact_rule": "email",
    "existing_open_case": "new_case",
    "success_url": None,
    "allowed_origins": [],
}


def contact_form(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CONTACT_FORM), **changes}


@dataclass
class Intake:
    client: httpx.AsyncClient
    settings: Settings
    database: Database
    kafka_bootstrap: str

    @property
    def submissions_topic(self) -> str:
        return self.settings.topic(topics.INTAKE_SUBMISSIONS)

    async def put_form(self, slug: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.put(
            f"/forms/{slug}", json=body or contact_form(), headers=STAFF_HEADERS
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def all_published(self) -> None:
        async def nothing_pending() -> bool:
            async with self.database.session() as session:
                pending = await session.scalar(
                    sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
                )
            return pending == 0

        await eventually(nothing_pending, timeout_s=15)

    async def messages(self) -> list[Any]:
        """Every record on the (prefixed) intake.submissions topic once the outbox is empty:
        read from the start of each partition to its end (no consumer group to join)."""
        await self.all_published()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka_bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        records: list[Any] = []
        try:
            partitions = [
                TopicPartition(self.submissions_topic, p)
                for p in consumer.partitions_for_topic(self.submissions_topic) or ()
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            async with asyncio.timeout(15):
                while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                    batch = await consumer.getmany(timeout_ms=200)
                    records.extend(r for recs in batch.values() for r in recs)
        finally:
            await consumer.stop()
        return records

    async def messages_about(self, submission_id: str) -> list[Any]:
        return [
            r
            for r in await self.messages()
            if json.loads(r.value)["data"]["submission_id"] == submission_id
        ]


@pytest.fixture(scope="module")
async def intake(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[Intake]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "intake", MIGRATIONS)
    settings = settings_for_tests(
        Settings, database_url=url, kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix
    )
    app = create_app(settings)
    async with running(app) as client:
        yield Intake(client, settings, app.state.runtime.database, kafka_bootstrap)
