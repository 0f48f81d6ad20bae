"""activity-svc running for real (see casestream.testing.harness): one app for the session;
tests keep apart by their own case ids and case type names."""

from __future__ import annotations

from pathlib import Path

from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream.testing.harness import ServiceHarness, service_fixture

MIGRATIONS = Path(__file__).parents[1] / "src" / "activity_svc" / "migrations"

ActivityService = ServiceHarness[Settings]  # what ``service`` is

service = service_fixture(create_app, Settings, MIGRATIONS, name="activity")
