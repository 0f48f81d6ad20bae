"""automation-svc running for real (see casestream.testing.harness) on a manual clock: one
app for the session; tests keep apart by their own cases and rule markers (a rule's
conditions name its test's case subject)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from automation_svc.config import Settings
from automation_svc.main import create_app
from automation_svc.tables import case_types, templates
from casestream import topics
from casestream.clock import ManualClock
from casestream.contracts.activity import ActivityState
from casestream.contracts.case import (
    CASE_OPENED,
    ActivitySet,
    CaseRole,
    CaseState,
    CaseTypeDefinition,
    Change,
    CustomField,
    TimelineActivity,
)
from casestream.contracts.notify import TEMPLATE_SAVED
from casestream.envelope import Envelope
from casestream.testing.factories import (
    activity_event,
    activity_state,
    case_event,
    case_state,
    case_type_published,
    case_type_version,
    template_saved,
)
from casestream.testing.harness import ServiceHarness, service_fixture
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

__all__ = ["activity_state", "case_state"]  # the factories, as the tests import them

MIGRATIONS = Path(__file__).parents[1] / "src" / "automation_svc" / "migrations"

CASE_TYPE = case_type_version(
    "general_enquiry",
    CaseTypeDefinition(
        statuses=["open", "in_progress", "resolved"],
        activity_types=["initial_call", "follow_up_call", "meeting"],
        activity_sets=[
            ActivitySet(
                name="standard_timeline",
                label="Standard",
                activities=[TimelineActivity(type="open_case", status="completed")],
            )
        ],
        roles=[CaseRole(name="case_coordinator", manager=True), CaseRole(name="advocate")],
        custom_fields=[
            CustomField(name="priority", label="Priority", type="select", options=["low", "high"]),
            CustomField(name="ward", label="Ward"),
        ],
    ),
)
TEMPLATES = ("acknowledgement", "follow_up", "reminder")


class AutomationService(ServiceHarness[Settings]):
    """The harness, plus the manual clock and ways to put and read rules and firings."""

    @property
    def clock(self) -> ManualClock:
        """The clock the app runs on (``manual_clock_app`` gave it one)."""
        clock: ManualClock = self.app.state.clock
        return clock

    def case_event(
        self,
        case: CaseState,
        event_type: str = CASE_OPENED,
        changes: dict[str, Change] | None = None,
        **extra: Any,
    ) -> Envelope[Any]:
        """A case event, stamped with the manual clock's time."""
        return case_event(case, event_type, changes, self.clock.now(), **extra)

    def activity_event(self, activity: ActivityState, event_type: str) -> Envelope[Any]:
        return activity_event(activity, event_type, occurred_at=self.clock.now())

    def case_opened(self, case_type: str = "general_enquiry", **custom: Any) -> Envelope[Any]:
        return self.case_event(case_state(case_type=case_type, custom=custom))

    async def deliver_event(self, envelope: Envelope[Any], times: int = 1) -> None:
        """``deliver`` on the topic its type says (case.*: case.events...)."""
        await self.deliver(topic_of(envelope), envelope, times=times)

    async def put_rule(self, rule: dict[str, Any]) -> str:
        rule_id = str(uuid.uuid4())
        response = await self.client.put(f"/rules/{rule_id}", json=rule, headers=STAFF_HEADERS)
        assert response.status_code == 201, response.text
        return rule_id

    async def firings(self, **params: Any) -> list[dict]:
        response = await self.client.get("/firings", params=params, headers=STAFF_HEADERS)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def actions_of(self, case_id: Any) -> list[dict]:
        return [a for f in await self.firings(case_id=str(case_id)) for a in f["actions"]]

    async def teach(self) -> None:
        """Tell it the case type and templates the tests' rules name, as case-svc and
        notify-svc would, and wait until it knows them."""
        await self.deliver(topics.CASETYPE_EVENTS, case_type_published(CASE_TYPE))
        for name in TEMPLATES:
            await self.deliver(topics.NOTIFY_TEMPLATES, template_saved(name))
        database = self.database

        async def known() -> bool:
            async with database.session() as session:
                types = (
                    await session.execute(sa.select(sa.func.count()).select_from(case_types))
                ).scalar()
                names = (
                    await session.execute(sa.select(sa.func.count()).select_from(templates))
                ).scalar()
            return types >= 1 and names >= len(TEMPLATES)

        await eventually(known, timeout_s=30)


def topic_of(envelope: Envelope[Any]) -> str:
    if envelope.type == TEMPLATE_SAVED:
        return topics.NOTIFY_TEMPLATES
    return {
        "case": topics.CASE_EVENTS,
        "activity": topics.ACTIVITY_EVENTS,
        "casetype": topics.CASETYPE_EVENTS,
        "notify": topics.NOTIFY_EVENTS,
        "quotation": topics.SALES_EVENTS,
        "invoice": topics.SALES_EVENTS,
    }[envelope.type.split(".")[0]]


def manual_clock_app(settings: Settings) -> FastAPI:
    """The app on a manual clock of its own, set to now."""
    return create_app(settings, clock=ManualClock(datetime.now(UTC)))


# Taught the case type and templates the tests' rules name.
service = service_fixture(
    manual_clock_app,
    Settings,
    MIGRATIONS,
    harness=AutomationService,
    name="automation",
    ready=AutomationService.teach,
)
