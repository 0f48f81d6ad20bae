"""automation-svc running for real (migrated PostgreSQL, the test broker, its lifespan) on a
manual clock, behind an httpx client; ways to deliver events to it and to read the commands
it sends."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from automation_svc.clock import ManualClock
from automation_svc.config import Settings
from automation_svc.main import create_app
from automation_svc.tables import case_types, templates
from casestream import topics
from casestream.contracts.activity import ActivityEvent, ActivityState
from casestream.contracts.case import (
    CASE_OPENED,
    CASETYPE_VERSION_PUBLISHED,
    ActivitySet,
    CaseEvent,
    CaseRole,
    CaseState,
    CaseTypeDefinition,
    CaseTypeVersion,
    Change,
    ContactState,
    CustomField,
    TimelineActivity,
)
from casestream.contracts.notify import TEMPLATE_SAVED, TemplateSaved
from casestream.envelope import Envelope, new_envelope
from casestream.testing.plugin import eventually, records_on
from casestream.testing.services import (
    STAFF_HEADERS,
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)

MIGRATIONS = Path(__file__).parents[1] / "src" / "automation_svc" / "migrations"

CASE_TYPE = CaseTypeVersion(
    name="general_enquiry",
    title="General enquiry",
    instance="cases",
    version=1,
    definition=CaseTypeDefinition(
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


def case_state(case_type: str = "general_enquiry", **changes: Any) -> CaseState:
    now = datetime.now(UTC)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        instance="cases",
        case_type=case_type,
        case_type_version=1,
        subject="Noise at night",
        status="open",
        status_class="opened",
        active=True,
        clients=[ContactState(id=uuid.uuid4(), first_name="Ada", email="ada@example.org")],
        start_date=now.date(),
        created_at=now,
        updated_at=now,
        version=1,
    )
    return CaseState(**{**values, **changes})


def activity_state(case_id: uuid.UUID, kind: str = "initial_call", **changes: Any) -> ActivityState:
    now = datetime.now(UTC)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        case_id=case_id,
        type=kind,
        subject=kind.replace("_", " ").capitalize(),
        status="scheduled",
        created_at=now,
        updated_at=now,
    )
    return ActivityState(**{**values, **changes})


@dataclass
class AutomationService:
    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer
    kafka_bootstrap: str
    app: Any
    clock: ManualClock

    def case_event(
        self,
        case: CaseState,
        event_type: str = CASE_OPENED,
        changes: dict[str, Change] | None = None,
        **extra: Any,
    ) -> Envelope[Any]:
        """A case event, stamped with the manual clock's time."""
        data = CaseEvent(case=case, changes=changes or {}, **extra)
        envelope = new_envelope(type=event_type, source="case-svc", subject=str(case.id), data=data)
        return envelope.model_copy(update={"occurred_at": self.clock.now()})

    def activity_event(self, activity: ActivityState, event_type: str) -> Envelope[Any]:
        envelope = new_envelope(
            type=event_type,
            source="activity-svc",
            subject=str(activity.case_id),
            data=ActivityEvent(activity=activity),
        )
        return envelope.model_copy(update={"occurred_at": self.clock.now()})

    def case_opened(self, case_type: str = "general_enquiry", **custom: Any) -> Envelope[Any]:
        return self.case_event(case_state(case_type, custom=custom))

    async def deliver(self, envelope: Envelope[Any], times: int = 1) -> None:
        topic = {
            "case": topics.CASE_EVENTS,
            "activity": topics.ACTIVITY_EVENTS,
            "casetype": topics.CASETYPE_EVENTS,
            "notify": topics.NOTIFY_EVENTS,
        }[envelope.type.split(".")[0]]
        if envelope.type == TEMPLATE_SAVED:
            topic = topics.NOTIFY_TEMPLATES
        raw = json.dumps(envelope.model_dump(mode="json")).encode()
        for _ in range(times):
            await self.producer.send_and_wait(
                self.settings.topic(topic), raw, key=envelope.subject.encode()
            )

    async def commands(
        self, case_id: Any, expected: int, topic: str = topics.NOTIFY_COMMANDS, timeout_s=15.0
    ) -> list[dict]:
        """The commands said on ``topic`` about a case: waits for ``expected``, then a second
        longer so that a surplus shows."""
        records = await records_on(
            self.kafka_bootstrap,
            self.settings.topic(topic),
            expected=expected,
            timeout_s=timeout_s,
            keys={str(case_id)},
            grace_s=1.0,
        )
        return [json.loads(r.value) for r in records]

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
        await self.deliver(
            new_envelope(
                type=CASETYPE_VERSION_PUBLISHED,
                source="case-svc",
                subject=CASE_TYPE.name,
                data=CASE_TYPE,
            )
        )
        for name in TEMPLATES:
            saved = TemplateSaved(
                name=name, subject="s", body_text="b", updated_at=datetime.now(UTC)
            )
            await self.deliver(
                new_envelope(type=TEMPLATE_SAVED, source="notify-svc", subject=name, data=saved)
            )
        database = self.app.state.runtime.database

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


@pytest.fixture(scope="session")
async def service(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[AutomationService]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "automation", MIGRATIONS)
    settings = settings_for_tests(
        Settings, database_url=url, kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    clock = ManualClock(datetime.now(UTC))
    app = create_app(settings, clock=clock)
    try:
        async with running(app) as client:
            automation = AutomationService(client, settings, producer, kafka_bootstrap, app, clock)
            await automation.teach()
            yield automation
    finally:
        await producer.stop()
