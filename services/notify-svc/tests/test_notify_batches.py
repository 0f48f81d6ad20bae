"""Emails due together go out as one batch over one SMTP connection, and one email's
refusal or timeout is its own. The SMTP server numbers its connections, so "one
connection" is what the server saw.

To make several emails due at once, as under load, the worker is kept busy with another
email meanwhile: the server holds that email's DATA until this test has locked its row, so
the worker, writing the outcome, waits on the lock while the test queues the batch."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from casestream import topics
from casestream.contracts.notify import EMAIL_FAILED, EMAIL_SENT
from casestream.testing.plugin import eventually
from notify_svc.tables import emails


def _address(name: str = "") -> str:
    return f"{name}{uuid.uuid4().hex[:8]}@example.org"


async def _known_case(service: Any) -> str:
    opened = service.case_opened()
    await service.deliver(topics.CASE_EVENTS, opened)
    return opened.data["case"]["id"]


async def _final(service: Any, case_id: str, count: int) -> list[dict]:
    async def check():
        found = await service.emails(case_id=case_id)
        done = len(found) == count and all(e["status"] != "queued" for e in found)
        return found if done else None

    return await eventually(check, timeout_s=30)


@contextlib.asynccontextmanager
async def worker_held(service: Any) -> AsyncIterator[None]:
    """While inside, the delivery worker is stuck writing another email's outcome, so
    emails queued meanwhile are claimed together when it is let go."""
    address = _address("held-")
    release = threading.Event()
    service.mailbox.data_holds[address] = release
    case_id = await _known_case(service)
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case_id, to=[address], subject="Held", body_text="Held"),
    )

    async def in_data():
        return service.mailbox.all_to(address)

    engine = create_async_engine(service.settings.database_url)
    try:
        await eventually(in_data)
        async with engine.connect() as conn, conn.begin():
            await conn.execute(
                sa.select(emails.c.id).where(emails.c.case_id == case_id).with_for_update()
            )
            release.set()  # the server answers; the worker now waits for this lock
            yield
    finally:
        release.set()
        await engine.dispose()
    await _final(service, case_id, 1)


async def _queue(service: Any, case_id: str, addresses: list[str]) -> None:
    """One email to each address, asked for in this order: each is queued (in its own
    transaction, so its own created_at) before the next is asked for."""
    for count, address in enumerate(addresses, start=1):
        await service.deliver(
            topics.NOTIFY_COMMANDS,
            service.send_email(case_id, to=[address], subject="Batch", body_text="Hello"),
        )

        async def queued(count=count):
            found = await service.emails(case_id=case_id)
            return len(found) == count and all(
                (e["status"], e["attempts"]) == ("queued", 0) for e in found
            )

        await eventually(queued)


async def test_emails_due_together_go_out_over_one_connection_each_once(service):
    case_id = await _known_case(service)
    addresses = [_address() for _ in range(5)]
    async with worker_held(service):
        await _queue(service, case_id, addresses)
        before = service.mailbox.connections

    found = await _final(service, case_id, len(addresses))
    assert {(e["status"], e["attempts"]) for e in found} == {("sent", 1)}
    deliveries = [d for a in addresses for d in service.mailbox.all_to(a)]
    assert sorted(d.rcpts[0] for d in deliveries) == sorted(addresses)  # each once
    assert all(d.accepted for d in deliveries)
    assert len({d.connection for d in deliveries}) == 1
    assert service.mailbox.connections - before == 1
    said = await service.said(topics.NOTIFY_EVENTS, case_id, expected=len(addresses))
    assert [e["type"] for e in said] == [EMAIL_SENT] * len(addresses)


async def test_in_one_batch_a_5xx_and_a_4xx_touch_only_their_own_emails(service):
    case_id = await _known_case(service)
    first, bounced, second, deferred, third = addresses = [
        _address(n) for n in ("first-", "bounced-", "second-", "deferred-", "third-")
    ]
    service.mailbox.data_replies[bounced] = ["554 5.7.1 message content rejected"]
    service.mailbox.data_replies[deferred] = ["451 4.7.1 greylisted, come back later"]
    async with worker_held(service):
        await _queue(service, case_id, addresses)

    by_address = {e["recipients"][0]["address"]: e for e in await _final(service, case_id, 5)}
    # The batch went over one connection in the order asked for, a refusal not ending it.
    [batch] = {d.connection for d in service.mailbox.all_to(first)}
    in_batch = [d for d in service.mailbox.seen if d.connection == batch]
    assert [d.rcpts for d in in_batch] == [[a] for a in addresses]
    assert [d.reply[:3] for d in in_batch] == ["250", "554", "250", "451", "250"]
    for address in (first, second, third):
        assert (by_address[address]["status"], by_address[address]["attempts"]) == ("sent", 1)
        assert len(service.mailbox.all_to(address)) == 1
    failed = by_address[bounced]
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["last_error"] == "554 5.7.1 message content rejected"
    assert len(service.mailbox.all_to(bounced)) == 1
    retried = by_address[deferred]
    assert (retried["status"], retried["attempts"], retried["last_error"]) == ("sent", 2, None)
    refused, accepted = service.mailbox.all_to(deferred)
    assert accepted.accepted and accepted.connection != batch  # a later batch
    assert accepted.raw == refused.raw
    said = await service.said(topics.NOTIFY_EVENTS, case_id, expected=5)
    assert sorted(e["type"] for e in said) == sorted([EMAIL_SENT] * 4 + [EMAIL_FAILED])


async def test_a_timeout_mid_batch_reconnects_once_and_the_others_still_go(service):
    """The server answers one DATA only after the client gave up: that connection is out of
    step, so the rest of the batch goes over a new one; the timed-out email is tried again
    later with the same bytes (the server may have taken it: it is unknowable)."""
    case_id = await _known_case(service)
    before, slow, after = addresses = [_address(n) for n in ("before-", "slow-", "after-")]
    service.mailbox.data_delays[slow] = [service.settings.smtp_timeout_s + 1.5]
    async with worker_held(service):
        await _queue(service, case_id, addresses)

    by_address = {e["recipients"][0]["address"]: e for e in await _final(service, case_id, 3)}
    assert {a: (by_address[a]["status"], by_address[a]["attempts"]) for a in addresses} == {
        before: ("sent", 1),
        slow: ("sent", 2),
        after: ("sent", 1),
    }
    [early] = service.mailbox.all_to(before)
    [late] = service.mailbox.all_to(after)
    first_try, second_try = service.mailbox.all_to(slow)
    assert first_try.connection == early.connection
    assert late.connection != early.connection  # the one reconnection
    assert second_try.raw == first_try.raw
    assert second_try.message["Message-ID"] == first_try.message["Message-ID"]
