"""Helpers for a service's own tests: a migrated database, settings pointing at the test
broker, and the app running with its lifespan (consumers, relay, workers) behind an httpx
client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from casestream.persistence.migrations import upgrade
from casestream.settings import ServiceSettings, StaffToken
from casestream.topics import TopicSpec, dead_letter_topic, ensure_topics, topic_specs

S = TypeVar("S", bound=ServiceSettings)

STAFF_TOKEN = "test-admin"
STAFF_HEADERS = {"Authorization": f"Bearer {STAFF_TOKEN}"}
# Who STAFF_TOKEN is: a settings override of staff_tokens keeps it with {STAFF_TOKEN: ADMIN}.
ADMIN = StaffToken(user="tester", rights=["admin"])


async def create_system_topics(kafka_bootstrap: str, partitions: int = 3) -> str:
    """Every system topic under a fresh prefix; returns the prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    await ensure_topics(
        kafka_bootstrap, [TopicSpec(prefix + s.name, partitions) for s in topic_specs()]
    )
    return prefix


async def migrated_database(create_database: Any, service: str, migrations: Path) -> str:
    url: str = await create_database(service)
    await asyncio.to_thread(upgrade, migrations, url)
    return url


def settings_for_tests(
    settings_cls: type[S],
    *,
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    **overrides: Any,
) -> S:
    """Settings with quick timings for tests."""
    values: dict[str, Any] = dict(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        kafka_acks=1,
        # One consumer per handler: each extra one is another group join and rebalance.
        consume_workers=1,
        outbox_poll_interval_s=0.2,
        consume_backoff_initial_s=0.05,
        consume_backoff_max_s=0.2,
        staff_tokens={STAFF_TOKEN: ADMIN},
        log_json=False,
    )
    values.update(overrides)
    return settings_cls(**values)


@contextlib.asynccontextmanager
async def running(app: FastAPI, base_url: str = "http://svc") -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan (broker, relay, workers) and talk to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


__all__ = [
    "ADMIN",
    "STAFF_HEADERS",
    "STAFF_TOKEN",
    "create_system_topics",
    "dead_letter_topic",
    "migrated_database",
    "running",
    "settings_for_tests",
]
