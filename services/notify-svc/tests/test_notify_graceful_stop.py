"""notify-svc stopping while an email is with the SMTP server: the delivery worker waits for
the server's reply and records it, so the email is not sent again after its lease (before,
the stop cancelled the worker between the server's yes and the commit of "sent": in the
fault campaign's `sigterm all`, one acknowledgement went out twice, two minutes apart).
And a worker killed in that moment leaves the email noted as taken: it is not sent again."""

from __future__ import annotations

import asyncio
import threading
import uuid

import sqlalchemy as sa

from casestream import topics
from casestream.testing.harness import service_fixture
from casestream.testing.plugin import eventually
from notify_svc.config import Settings
from notify_svc.delivery import DeliveryWorker
from notify_svc.main import create_app
from notify_svc.tables import emails

from .conftest import ADMIN, MIGRATIONS, SMTP_TIMEOUT_S, STAFF_TOKEN, sending_through

# Its own notify-svc: the test stops its delivery worker for good.
stopping_service = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    scope="module",
    name="notify",
    arguments_from=sending_through("smtp_server"),
    smtp_timeout_s=SMTP_TIMEOUT_S,
    staff_tokens={STAFF_TOKEN: ADMIN},
)


async def _email_on_a_case(service, address: str) -> str:
    """A case notify-svc knows, and an email on it to ``address``: the case's id."""
    opened = service.case_opened()
    await service.deliver(topics.CASE_EVENTS, opened)
    case_id = opened.data["case"]["id"]
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case_id, to=[address], subject="Goodbye", body_text="Once"),
    )
    return case_id


async def test_an_email_under_way_when_the_service_stops_is_recorded_as_sent_once(
    stopping_service,
):
    service = stopping_service
    address = f"stopping-{uuid.uuid4().hex[:8]}@example.org"
    release = threading.Event()
    service.mailbox.data_holds[address] = release
    case_id = await _email_on_a_case(service, address)

    async def with_the_server():
        return service.mailbox.all_to(address)

    await eventually(with_the_server)  # the server has the letter and holds its reply
    [worker] = [t for t in service.app.state.workers if t.get_name() == "delivery"]
    worker.cancel()  # what the app's shutdown does
    await asyncio.sleep(0.3)
    release.set()  # the server says yes
    await asyncio.wait({worker}, timeout=SMTP_TIMEOUT_S + 5)

    assert worker.done()
    [sent] = await service.emails(case_id=case_id)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert len(service.mailbox.to(address)) == 1


class DyingWorker(DeliveryWorker):
    """Sends, and dies before it records how it went (as a kill -9 would)."""

    async def _settle(self, tx, outcomes):
        raise RuntimeError("killed")


async def test_an_email_the_server_took_before_its_worker_died_is_not_sent_again(
    stopping_service,
):
    service = stopping_service
    for task in service.app.state.workers:  # this test's workers deliver, not the app's
        task.cancel()
    await asyncio.wait(service.app.state.workers, timeout=SMTP_TIMEOUT_S + 5)
    database = service.app.state.runtime.database
    address = f"dying-{uuid.uuid4().hex[:8]}@example.org"
    case_id = await _email_on_a_case(service, address)
    await eventually(lambda: service.emails(case_id=case_id))

    assert await DyingWorker(database, service.settings).deliver_due() == 1
    assert len(service.mailbox.to(address)) == 1
    [left] = await service.emails(case_id=case_id)
    assert left["status"] == "queued"  # its outcome never recorded
    async with database.statements() as conn:  # its lease runs out
        await conn.execute(emails.update().values(next_attempt_at=sa.func.now()))

    assert await DeliveryWorker(database, service.settings).deliver_due() == 1
    [sent] = await service.emails(case_id=case_id)
    assert sent["status"] == "sent"
    assert len(service.mailbox.all_to(address)) == 1  # not handed to the server again
