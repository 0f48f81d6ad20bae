"""intake-svc running for real (Postgres, broker, relay, consumer) behind an httpx client,
one per test module; tests keep apart by using their own form slugs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

import intake_svc
from casestream import topics
from casestream.contracts.case import (
    CASETYPE_VERSION_PUBLISHED,
    CaseTypeDefinition,
    CaseTypeVersion,
    CustomField,
)
from casestream.envelope import Envelope, new_envelope
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
from intake_svc.tables import case_types

MIGRATIONS = Path(intake_svc.__file__).parent / "migrations"
FORM_SECRET = "test-form-secret"

# What case-svc would announce on casetype.events; the module fixture publishes them and
# waits until intake-svc knows them (forms are checked against them).
GENERAL_ENQUIRY = CaseTypeVersion(
    name="general_enquiry",
    title="General enquiry",
    instance="cases",
    version=1,
    definition=CaseTypeDefinition(
        custom_fields=[
            CustomField(name="topic", label="Topic", type="select", options=["billing", "other"]),
            CustomField(name="visit_date", label="Visit date", type="date"),
            CustomField(name="newsletter", label="Newsletter", type="boolean"),
            CustomField(name="budget", label="Budget", type="money"),
            CustomField(name="notes", label="Notes", type="text"),
            CustomField(
                name="interests", label="Interests", type="multiselect", options=["a", "b"]
            ),
            CustomField(name="referrer", label="Referrer", type="contact_reference"),
        ]
    ),
)
STRICT_ENQUIRY = CaseTypeVersion(
    name="strict_enquiry",
    title="Strict enquiry",
    instance="cases",
    version=1,
    definition=CaseTypeDefinition(
        custom_fields=[CustomField(name="ward", label="Ward", type="text", required=True)]
    ),
)

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
    app: FastAPI | None = None

    @property
    def submissions_topic(self) -> str:
        return self.settings.topic(topics.INTAKE_SUBMISSIONS)

    async def put_form(self, slug: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.put(
            f"/forms/{slug}", json=body or contact_form(), headers=STAFF_HEADERS
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def post_json(
        self, slug: str, body: dict[str, Any], key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A script's post: JSON with an Idempotency-Key header (so no render token)."""
        headers = {"Idempotency-Key": key or str(uuid.uuid4()), **kwargs.pop("headers", {})}
        return await self.client.post(f"/f/{slug}", json=body, headers=headers, **kwargs)

    async def page_inputs(self, slug: str) -> dict[str, str]:
        """The hidden inputs of a freshly rendered page (render token, idempotency key)."""
        page = await self.client.get(f"/f/{slug}")
        assert page.status_code == 200, page.text
        return hidden_inputs(page.text)

    async def post_page(self, slug: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """What a browser does: render the page, then post the answers with its inputs."""
        inputs = await self.page_inputs(slug)
        return await self.client.post(f"/f/{slug}", data={**inputs, **data}, **kwargs)

    async def publish(self, topic: str, envelopes: list[Envelope[Any]], key: str = "") -> None:
        """Send envelopes on one of the system's topics as another service would (all on
        one partition when ``key`` is given, so they are handled in this order)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka_bootstrap)
        await producer.start()
        try:
            for envelope in envelopes:
                await producer.send_and_wait(
                    self.settings.topic(topic),
                    json.dumps(envelope.model_dump(mode="json")).encode(),
                    key=(key or envelope.subject).encode(),
                )
        finally:
            await producer.stop()

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


def hidden_inputs(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


@contextlib.contextmanager
def tightened(settings: Settings, **values: Any) -> Iterator[None]:
    """Change settings of the running app for one test (limits are read at each request)."""
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


def case_type_event(case_type: CaseTypeVersion) -> Envelope[Any]:
    return new_envelope(
        type=CASETYPE_VERSION_PUBLISHED, source="case-svc", subject=case_type.name, data=case_type
    )


async def knows_case_types(database: Database, expected: dict[str, int]) -> bool:
    """True once the read model holds each named case type at (at least) that version."""
    async with database.session() as session:
        rows = (await session.execute(sa.select(case_types.c.name, case_types.c.version))).all()
    known = {row.name: row.version for row in rows}
    return all(known.get(name, 0) >= version for name, version in expected.items())


@pytest.fixture(scope="module")
async def intake(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[Intake]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "intake", MIGRATIONS)
    settings = settings_for_tests(
        Settings,
        database_url=url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        form_secret=FORM_SECRET,
        # Tests post at machine speed from one address; the defence tests tighten these.
        form_min_seconds=0,
        rate_per_client_per_minute=100_000,
        rate_per_form_per_minute=100_000,
    )
    app = create_app(settings)
    async with running(app) as client:
        intake = Intake(client, settings, app.state.runtime.database, kafka_bootstrap, app)
        await intake.publish(
            topics.CASETYPE_EVENTS,
            [case_type_event(GENERAL_ENQUIRY), case_type_event(STRICT_ENQUIRY)],
        )
        await eventually(
            lambda: knows_case_types(intake.database, {"general_enquiry": 1, "strict_enquiry": 1}),
            timeout_s=30,
        )
        yield intake
