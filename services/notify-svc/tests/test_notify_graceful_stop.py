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
from casestream.persistence.database import Database
from casestream.testing.harness import service_fixture
from casestream.testing.plugin import eventually
from casestream.testing.tcp_proxy import TcpProxy
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


async def test_letters_the_server_took_while_the_database_was_away_go_once(stopping_service):
    """PostgreSQL goes away (a restart) just as the server takes a letter: the note fails.
    The batch sends no more, writes its outcomes once the database is back, and nothing is
    sent twice (before, the letters went on, nothing was noted, and after their lease all
    went again: the campaign's postgres-restart counted 6 acknowledgements twice)."""
    service = stopping_service
    for task in service.app.state.workers:
        task.cancel()
    await asyncio.wait(service.app.state.workers, timeout=SMTP_TIMEOUT_S + 5)
    database = service.app.state.runtime.database
    url = sa.make_url(database.url)
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through_proxy = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    run = uuid.uuid4().hex[:8]
    addresses = [f"away-{run}-{n}@example.org" for n in range(3)]
    release = threading.Event()
    service.mailbox.data_holds[addresses[0]] = release
    cases = [await _email_on_a_case(service, address) for address in addresses]
    for case_id in cases:
        await eventually(lambda case_id=case_id: service.emails(case_id=case_id))
    async with database.statements() as conn:  # this claim is their last attempt
        await conn.execute(
            emails.update()
            .where(emails.c.case_id.in_([uuid.UUID(c) for c in cases]))
            .values(attempts=service.settings.send_max_attempts - 1)
        )
    try:
        batch = asyncio.create_task(DeliveryWorker(through_proxy, service.settings).deliver_due())

        async def with_the_server():
            return service.mailbox.all_to(addresses[0])

        await eventually(with_the_server)  # it holds its reply
        await proxy.cut()
        release.set()  # the server takes it; the database is away
        await asyncio.sleep(1.5)
        await proxy.mend()
        assert await asyncio.wait_for(batch, timeout=30) == 3
    finally:
        await through_proxy.engine.dispose()
        await proxy.cut()

    [first] = await service.emails(case_id=cases[0])
    assert first["status"] == "sent"
    for case_id in cases[1:]:  # not tried: that used up no attempt, they wait
        [email] = await service.emails(case_id=case_id)
        assert email["status"] in {"sent", "queued"}, email
    async with database.statements() as conn:  # every lease runs out
        await conn.execute(emails.update().values(next_attempt_at=sa.func.now()))
    await DeliveryWorker(database, service.settings).deliver_due()
    for case_id, address in zip(cases, addresses, strict=True):
        [email] = await service.emails(case_id=case_id)
        assert email["status"] == "sent"
        assert len(service.mailbox.all_to(address)) == 1, address
