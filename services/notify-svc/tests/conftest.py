"""notify-svc running for real (migrated PostgreSQL, the test broker, its lifespan and
delivery worker) against a real SMTP server (aiosmtpd) on a free port, plus ways to deliver
its input messages and read what it says."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller

from casestream import devinfra, topics
from casestream.contracts.case import CASE_OPENED, CaseEvent, CaseState, ContactState
from casestream.contracts.notify import SEND_EMAIL, SendEmail
from casestream.envelope import Envelope, new_envelope
from casestream.testing.plugin import records_on
from casestream.testing.services import (
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)
from notify_svc.config import Settings
from notify_svc.main import create_app

MIGRATIONS = Path(__file__).parents[1] / "src" / "notify_svc" / "migrations"
WHEN = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps what it accepts; refuses some addresses."""

    port: int = 0
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    # address -> the reply to RCPT TO
    refusals: dict[str, str] = field(
        default_factory=lambda: {
            "bounce@example.org": "550 5.1.1 no such user",
            "later@example.org": "451 4.3.0 try again later",
        }
    )

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.received if address in rcpts]


def case_opened(*, subject: str = "Noise at night", **client: Any) -> Envelope[Any]:
    contact = ContactState(
        id=uuid.uuid4(),
        **{
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": f"{uuid.uuid4().hex[:8]}@example.org",
            **client,
        },
    )
    case = CaseState(
        id=uuid.uuid4(),
        instance="cases",
        case_type="general_enquiry",
        case_type_version=1,
        subject=subject,
        status="open",
        status_class="opened",
        active=True,
        clients=[contact],
        custom={"ward": "North"},
        start_date=date(2025, 3, 3),
        created_at=WHEN,
        updated_at=WHEN,
        version=1,
    )
    return new_envelope(
        type=CASE_OPENED, source="case-svc", subject=str(case.id), data=CaseEvent(case=case)
    )


def send_email(case_id: Any, **fields: Any) -> Envelope[Any]:
    command = SendEmail(notification_id=uuid.uuid4(), case_id=case_id, **fields)
    return new_envelope(
        type=SEND_EMAIL,
        source="automation-svc",
        subject=str(case_id),
        data=command,
        id=command.notification_id,
    )


@dataclass
class NotifyService:
    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer
    kafka_bootstrap: str
    mailbox: Mailbox
    case_opened = staticmethod(case_opened)
    send_email = staticmethod(send_email)

    async def deliver(self, topic: str, envelope: Envelope[Any], times: int = 1) -> None:
        raw = json.dumps(envelope.model_dump(mode="json")).encode()
        for _ in range(times):
            await self.producer.send_and_wait(
                self.settings.topic(topic), raw, key=envelope.subject.encode()
            )

    async def said(self, subject: str, expected: int, timeout_s: float = 15.0) -> list[dict]:
        """What the service said on notify.events about ``subject``: waits for ``expected``,
        then a second longer so that a surplus shows."""
        records = await records_on(
            self.kafka_bootstrap,
            self.settings.topic(topics.NOTIFY_EVENTS),
            expected=expected,
            timeout_s=timeout_s,
            keys={subject},
            grace_s=1.0,
        )
        return [json.loads(r.value) for r in records]

    async def emails(self, **params: Any) -> list[dict]:
        response = await self.client.get(
            "/emails", params=params, headers={"Authorization": "Bearer test-admin"}
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=devinfra.free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
async def service(
    create_database: Any, kafka_bootstrap: str, mailbox: Mailbox
) -> AsyncIterator[NotifyService]:
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "notify", MIGRATIONS)
    settings = settings_for_tests(
        Settings,
        database_url=url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_timeout_s=5,
        delivery_poll_interval_s=0.1,
        send_backoff_initial_s=0.05,
        send_max_attempts=3,
        unknown_case_retry_s=0.2,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with running(create_app(settings)) as client:
            yield NotifyService(client, settings, producer, kafka_bootstrap, mailbox)
    finally:
        await producer.stop()
