"""A send_email command that comes before its case waits for the case (held), goes out once
it comes, and fails, said so, if it never does; through the broker."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casestream import topics
from casestream.persistence.tables import held_messages
from casestream.testing.plugin import eventually


async def held_for(service, case_id) -> list[str]:
    async with service.database.session() as session:
        rows = await session.execute(
            sa.select(held_messages.c.awaiting).where(held_messages.c.key == str(case_id))
        )
    return list(rows.scalars())


async def test_an_email_asked_for_before_its_case_waits_and_goes_once_the_case_comes(service):
    opened = service.case_opened()
    case_id = opened.data["case"]["id"]
    await service.deliver(
        topics.NOTIFY_COMMANDS, service.send_email(case_id, subject="Hi", body_text="Hello")
    )
    assert await eventually(lambda: held_for(service, case_id)) == [f"case:{case_id}"]
    assert await service.emails(case_id=case_id) == []  # not queued: waiting for the case

    await service.deliver(topics.CASE_EVENTS, opened)

    async def sent():
        found = await service.emails(case_id=case_id)
        return found if found and found[0]["status"] == "sent" else None

    [email] = await eventually(sent)
    assert (email["attempts"], email["last_error"]) == (1, None)
    assert await held_for(service, case_id) == []
    [said] = await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)
    assert said["type"] == "notify.email_sent"


async def test_an_email_whose_case_never_comes_fails_and_is_said_to_have_failed(service):
    case_id = service.case_opened().data["case"]["id"]  # never delivered
    held = service.app.state.runtime.held
    before = held.give_up
    held.give_up = timedelta(seconds=1)  # looked at again after 5 s: by then too long
    try:
        await service.deliver(topics.NOTIFY_COMMANDS, service.send_email(case_id, subject="Hi"))
        [said] = await service.said(topics.NOTIFY_EVENTS, case_id, expected=1, timeout_s=30)
    finally:
        held.give_up = before
    assert said["type"] == "notify.email_failed"
    assert said["data"]["email"]["last_error"] == f"case {case_id} never became known"
    [email] = await service.emails(case_id=case_id)
    assert (email["status"], email["attempts"]) == ("failed", 0)
    assert await held_for(service, case_id) == []
