"""Timelines: a case opening schedules its case type's standard timeline, once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa

from casestream import topics
from casestream.contracts.case import (
    CASE_OPENED,
    CASE_UPDATED,
    CaseTypeDefinition,
)
from casestream.envelope import Envelope
from casestream.persistence.tables import held_messages
from casestream.testing import factories
from casestream.testing.factories import case_event, case_state, case_type_version
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

STANDARD_TIMELINE = {
    "name": "standard_timeline",
    "label": "Standard timeline",
    "timeline": True,
    "activities": [
        {"type": "open_case", "status": "completed", "subject": "Case opened"},
        {
            "type": "follow_up_call",
            "status": "scheduled",
            "subject": "Follow up call",
            "offset_days": 7,
            "reference": "case_start",
        },
        {
            "type": "follow_up_call",
            "status": "scheduled",
            "subject": "Second call",
            "offset_days": 3,
            "reference": "follow_up_call",
        },
    ],
}
START = date(2025, 3, 3)
CREATED = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def case_type_published(name: str, version: int = 1) -> Envelope:
    definition = CaseTypeDefinition.model_validate(
        {
            "statuses": ["open"],
            "activity_types": ["open_case", "follow_up_call"],
            "activity_sets": [
                {"name": "ad_hoc", "label": "Ad hoc", "timeline": False, "activities": []},
                STANDARD_TIMELINE,
            ],
        }
    )
    return factories.case_type_published(
        case_type_version(name, definition, title="Enquiry", version=version)
    )


def case_opened(case_type: str, case_id: uuid.UUID | None = None) -> Envelope:
    case = case_state(at=CREATED, id=case_id or uuid.uuid4(), case_type=case_type, start_date=START)
    return case_event(case, CASE_OPENED)


async def timeline_of(service, case_id: str, count: int = 3) -> list[dict]:
    async def fetch():
        answer = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
        items = answer.json()["items"]
        return items if len(items) >= count else None

    return await eventually(fetch, timeout_s=20)


async def test_a_case_opening_schedules_its_standard_timeline(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    opened = case_opened(case_type)
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))
    await service.deliver(topics.CASE_EVENTS, opened)

    timeline = await timeline_of(service, opened.subject)

    assert [(a["type_label"], a["status"], a["subject"]) for a in timeline] == [
        ("Open Case", "completed", "Case opened"),
        ("Follow up call", "scheduled", "Follow up call"),
        ("Follow up call", "scheduled", "Second call"),
    ]
    assert datetime.fromisoformat(timeline[0]["occurred_at"]) == CREATED
    assert datetime.fromisoformat(timeline[1]["due_at"]) == datetime(2025, 3, 10, 9, tzinfo=UTC)
    # Relative to the earlier follow-up call, not to the case start.
    assert datetime.fromisoformat(timeline[2]["due_at"]) == datetime(2025, 3, 13, 9, tzinfo=UTC)
    said = await service.said(topics.ACTIVITY_EVENTS, opened.subject, expected=3)
    assert [m["type"] for m in said] == [
        "activity.completed",
        "activity.scheduled",
        "activity.scheduled",
    ]
    assert [m["data"]["activity"]["id"] for m in said] == [a["id"] for a in timeline]
    assert said[1]["data"]["activity"]["due_at"] == timeline[1]["due_at"]
    assert all(m["causation_id"] == str(opened.id) for m in said)

    one = await service.client.get(f"/activities/{timeline[1]['id']}", headers=STAFF_HEADERS)
    assert one.status_code == 200 and one.json() == timeline[1]


async def test_a_case_opened_delivered_again_schedules_nothing_twice(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    opened = case_opened(case_type)
    # The same event redelivered, and re-announced under a new message id.
    again = opened.model_copy(update={"id": uuid.uuid4()})
    # Behind them on the same partition, so once it is done they are too.
    marker = case_opened(case_type)
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))
    for envelope in (opened, opened, again):
        await service.deliver(topics.CASE_EVENTS, envelope)
    await service.deliver(topics.CASE_EVENTS, marker, key=opened.subject)

    await timeline_of(service, marker.subject)
    answer = await service.client.get(f"/cases/{opened.subject}/activities", headers=STAFF_HEADERS)
    assert len(answer.json()["items"]) == 3
    assert len(await service.said(topics.ACTIVITY_EVENTS, opened.subject, expected=3)) == 3


# How late the case type is announced: far past every retry of the consumer (with the
# default attempts), which is what a late definition once ran out of.
LATE_S = 20  # the test settings spend five attempts in well under a second


async def test_a_case_type_announced_long_after_its_case_still_gives_it_its_timeline(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    opened = case_opened(case_type)
    renamed = case_event(
        case_state(
            at=CREATED,
            id=uuid.UUID(opened.subject),
            case_type=case_type,
            start_date=START,
            subject="Renamed",
            version=2,
        ),
        CASE_UPDATED,
    )
    assert service.settings.consume_max_attempts == 5  # the default: nothing raised for this
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(topics.CASE_EVENTS, renamed)  # waits behind the opening, in order
    assert await eventually(lambda: held_for(service, opened.subject)) == [
        f"case-type:{case_type}:1",
        None,
    ]
    await asyncio.sleep(LATE_S)
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))

    timeline = await timeline_of(service, opened.subject)
    assert [a["type"] for a in timeline] == ["open_case", "follow_up_call", "follow_up_call"]
    assert await eventually(lambda: not_held(service, opened.subject))
    # The update waited behind the opening, and then went: the case is known at version 2.
    async with service.database.session() as session:
        stored = await session.scalar(
            sa.text("SELECT version FROM cases WHERE id = :id"),
            {"id": opened.subject},
        )
    assert stored == 2
    # Waiting was not failing: nothing about the case was dead-lettered (in 20 s, five
    # attempts would have been spent many times over).
    assert await service.said_so_far("case.events.dlq", {opened.subject}) == []


async def held_for(service, key: str) -> list[str | None]:
    async with service.database.session() as session:
        rows = await session.execute(
            sa.select(held_messages.c.awaiting)
            .where(held_messages.c.key == key)
            .order_by(held_messages.c.id)
        )
    return list(rows.scalars())


async def not_held(service, key: str) -> bool:
    return await held_for(service, key) == []


async def test_timeline_pages_follow_one_another(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    opened = case_opened(case_type)
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))
    await service.deliver(topics.CASE_EVENTS, opened)
    whole = await timeline_of(service, opened.subject)

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await service.client.get(
                f"/cases/{opened.subject}/activities", params=params, headers=STAFF_HEADERS
            )
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [a["id"] for a in seen] == [a["id"] for a in whole]
    bad = await service.client.get(
        f"/cases/{opened.subject}/activities", params={"cursor": "nonsense"}, headers=STAFF_HEADERS
    )
    assert bad.status_code == 422


async def _true(value: bool) -> bool:
    return value
