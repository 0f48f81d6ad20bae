"""activity-svc running for real (see casestream.testing.harness): one app for the session;
tests keep apart by their own case ids and case type names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream.testing.harness import ServiceHarness, start_service

MIGRATIONS = Path(__file__).parents[1] / "src" / "activity_svc" / "migrations"

ActivityService = ServiceHarness[Settings]


@pytest.fixture(scope="session")
async def service(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[ActivityService]:
    async with start_service(
        create_app,
        Settings,
        MIGRATIONS,
        create_database,
        kafka_bootstrap,
        name="activity",
    ) as service:
        yield service
