"""Fixtures for the shared library's own tests: a database holding only the messaging tables
and a test table of effects, a service-like runtime, and a raw Kafka consumer to look at
what reached a topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from casestream.persistence.database import Database
from casestream.persistence.tables import messaging_metadata
from casestream.settings import ServiceSettings
from casestream.testing.services import settings_for_tests

from .notes import effects


@pytest.fixture
async def database_url(create_database: Callable[[str], Awaitable[str]]) -> str:
    url = await create_database("shared")
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)  # outbox, inbox, parked messages
        await conn.run_sync(effects.metadata.create_all)
    await db.dispose()
    return url


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> ServiceSettings:
    return settings_for_tests(
        ServiceSettings,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix="",  # each test names its own topics (new_topic)
        service_name=f"test-{uuid.uuid4().hex[:6]}",
        consume_backoff_initial_s=0.01,
        consume_backoff_max_s=0.05,
    )


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, outbox_notify=False)
    yield db
    await db.dispose()


async def effect_rows(db: Database) -> list[tuple[str, str]]:
    async with db.session() as s:
        return [
            tuple(r)
            for r in (
                await s.execute(sa.select(effects.c.key, effects.c.value).order_by(effects.c.id))
            ).all()
        ]


def body(record: Any) -> dict[str, Any]:
    return json.loads(record.value)
