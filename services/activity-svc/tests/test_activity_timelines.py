"""Timelines: offsets from the case start or from earlier activities, sets applied by hand
(once per trigger), sequences, definition versions, and what a closing case does to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from activity_svc.activities import lock_activity, save_activity
from activity_svc.cases import cases
from activity_svc.permissions import may_see_case
from activity_svc.tables import case_type_versions
from activity_svc.timeline import continue_sequence
from casestream import topics
from casestream.contracts.case import (
    CASE_CLOSED,
    CASE_MERGED,
    CASE_OPENED,
    CASE_TRANSFERRED,
    CASETYPE_VERSION_PUBLISHED,
)
from casestream.envelope import Envelope, new_envelope
from casestream.http.auth import StaffUser
from casestream.persistence.database import Database
from casestream.testing import factories
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

START = date(2025, 3, 3)
CREATED = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def at9(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def step(type_: str, subject: str, offset: int = 0, reference: str = "case_start", **more: Any):
    return {
        "type": type_,
        "subject": subject,
        "offset_days": offset,
        "reference": reference,
        **more,
    }


def timeline(name: str, *steps: dict, timeline: bool = True, sequence: bool = False) -> dict:
    return {
        "name": name,
        "label": name,
        "timeline": timeline,
        "sequence": sequence,
        "activities": list(steps),
    }


def case_type_published(name: str, sets: list[dict], version: int = 1, **extra: Any) -> Envelope:
    definition = {"statuses": ["open", "closed"], "activity_sets": sets, **extra}
    data = {"name": name, "title": name, "instance": "cases", "version": version}
    return new_envelope(
        type=CASETYPE_VERSION_PUBLISHED,
        source="case-svc",
        subject=name,
        data={**data, "definition": definition},
    )


def case_event(type_: str, case_type: str, case_id: uuid.UUID, version: int = 1, **state: Any):
    case = factories.case_state(
        at=CREATED, id=case_id, case_type=case_type, start_date=START, version=version, **state
    )
    return factories.case_event(case, type_)


def closed(type_: str, case_type: str, case_id: uuid.UUID) -> Envelope:
    return case_event(
        type_, case_type, case_id, version=2, status="closed", status_class="closed", active=False
    )


@pytest.fixture(scope="module")
async def database(service) -> AsyncIterator[Database]:
    database = Database(service.settings.database_url, outbox_notify=False)
    yield database
    await database.dispose()


async def publish(service, database, name: str, sets: list[dict], version: int = 1, **extra: Any):
    """Deliver a case type version and wait until activity-svc has it: case.opened comes on
    another topic, so without the wait it may arrive first and be held."""
    await service.deliver(
        topics.CASETYPE_EVENTS, case_type_published(name, sets, version=version, **extra)
    )
    await eventually(lambda: _known(database, name, version), timeout_s=20)


async def _known(database: Database, name: str, version: int) -> bool:
    async with database.session() as session:
        query = sa.select(case_type_versions.c.name).where(
            case_type_versions.c.name == name, case_type_versions.c.version == version
        )
        return (await session.execute(query)).first() is not None


async def open_case(service, database, case_type: str, **state: Any) -> uuid.UUID:
    """Deliver case.opened and wait until activity-svc knows the case."""
    case_id = uuid.uuid4()
    await service.deliver(topics.CASE_EVENTS, case_event(CASE_OPENED, case_type, case_id, **state))
    await eventually(lambda: case_row(database, case_id), timeout_s=20)
    return case_id


async def case_row(database: Database, case_id: uuid.UUID) -> Any:
    async with database.session() as session:
        query = sa.select(cases).where(cases.c.id == case_id)
        return (await session.execute(query)).first()


async def activities_of(service, case_id: uuid.UUID) -> dict[str, dict]:
    """The case's activities by subject."""
    answer = await service.client.get(
        f"/cases/{case_id}/activities", params={"limit": 500}, headers=STAFF_HEADERS
    )
    return {a["subject"]: a for a in answer.json()["items"]}


def due(activity: dict) -> datetime:
    return datetime.fromisoformat(activity["due_at"])


async def apply(service, case_id: uuid.UUID, activity_set: str, key: str | None = None):
    headers = {**STAFF_HEADERS, **({"Idempotency-Key": key} if key else {})}
    return await service.client.post(
        f"/cases/{case_id}/timelines", json={"activity_set": activity_set}, headers=headers
    )


async def test_offsets_count_from_the_case_start_or_an_earlier_activity(service, database):
    case_type = f"offsets_{uuid.uuid4().hex[:6]}"
    standard = timeline(
        "standard_timeline",
        step("open_case", "opened", status="completed"),
        step("follow_up_call", "start +7", 7),
        step("follow_up_call", "start -2", -2),
        step("meeting", "newest call +1", 1, "follow_up_call"),
        step("meeting", "oldest call -1", -1, "oldest:follow_up_call"),
        step("meeting", "newest call +2", 2, "newest:follow_up_call"),
        step("meeting", "opening +1", 1, "open_case"),
        step("meeting", "no such type +5", 5, "newest:site_visit"),
    )
    await publish(service, database, case_type, [standard])
    case_id = await open_case(service, database, case_type)

    found = await eventually(lambda: _at_least(activities_of(service, case_id), 8), timeout_s=20)
    assert datetime.fromisoformat(found["opened"]["occurred_at"]) == CREATED
    expected = {
        "start +7": date(2025, 3, 10),
        "start -2": date(2025, 3, 1),
        "newest call +1": date(2025, 3, 11),  # the newest call is the one on the 10th
        "oldest call -1": date(2025, 2, 28),  # the oldest is on the 1st
        "newest call +2": date(2025, 3, 12),
        "opening +1": date(2025, 3, 4),
        "no such type +5": date(2025, 3, 8),  # no such activity: the case start
    }
    assert {subject: due(found[subject]) for subject in expected} == {
        subject: at9(day) for subject, day in expected.items()
    }


async def test_a_set_applied_by_hand_counts_from_the_cases_activities(service, database):
    case_type = f"manual_{uuid.uuid4().hex[:6]}"
    sets = [
        timeline("standard_timeline", step("follow_up_call", "call", 7)),
        timeline(
            "escalation",
            step("meeting", "after the call", 2, "follow_up_call"),
            step("meeting", "before the start", -3),
            timeline=False,
        ),
    ]
    await publish(service, database, case_type, sets)
    case_id = await open_case(service, database, case_type)
    await eventually(lambda: activities_of(service, case_id), timeout_s=20)  # the call

    applied = await apply(service, case_id, "escalation")
    assert applied.status_code == 201, applied.text
    body = applied.json()
    assert (body["activity_set"], body["case_type"], body["case_type_version"]) == (
        "escalation",
        case_type,
        1,
    )
    scheduled = {a["subject"]: a for a in body["activities"]}
    assert due(scheduled["after the call"]) == at9(date(2025, 3, 12))  # the call is on the 10th
    assert due(scheduled["before the start"]) == at9(date(2025, 2, 28))
    assert all(
        a["status"] == "scheduled" and a["case_id"] == str(case_id) for a in scheduled.values()
    )
    said = await service.said(topics.ACTIVITY_EVENTS, str(case_id), expected=3)
    assert [m["type"] for m in said] == ["activity.scheduled"] * 3

    unknown = await apply(service, case_id, "no_such_set")
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "activity_set"]
    missing = await apply(service, uuid.uuid4(), "escalation")
    assert missing.status_code == 404


async def test_the_same_trigger_applies_a_set_once(service, database):
    case_type = f"once_{uuid.uuid4().hex[:6]}"
    sets = [timeline("callbacks", step("follow_up_call", "call back", 1), timeline=False)]
    await publish(service, database, case_type, sets)
    case_id = await open_case(service, database, case_type)

    first = await apply(service, case_id, "callbacks", key="k-1")
    again = await apply(service, case_id, "callbacks", key="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(await activities_of(service, case_id)) == 1
    # Another key, or no key at all, is another application.
    other = await apply(service, case_id, "callbacks", key="k-2")
    no_key = [await apply(service, case_id, "callbacks") for _ in range(2)]
    assert [r.status_code for r in (other, *no_key)] == [201, 201, 201]
    answer = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
    assert len(answer.json()["items"]) == 4


async def test_a_sequence_schedules_each_step_when_the_one_before_completes(service, database):
    case_type = f"sequence_{uuid.uuid4().hex[:6]}"
    sets = [
        # A later call, so "the newest call" is not the step just completed.
        timeline("standard_timeline", step("follow_up_call", "much later", 60)),
        timeline(
            "chase",
            step("follow_up_call", "first call", 1),
            step("follow_up_call", "second call", 2, "follow_up_call"),
            step("email", "write", -1, "newest:follow_up_call"),
            timeline=False,
            sequence=True,
        ),
    ]
    await publish(service, database, case_type, sets)
    case_id = await open_case(service, database, case_type)
    await eventually(lambda: activities_of(service, case_id), timeout_s=20)

    applied = await apply(service, case_id, "chase")
    assert [a["subject"] for a in applied.json()["activities"]] == ["first call"]
    first = applied.json()["activities"][0]
    assert due(first) == at9(date(2025, 3, 4))

    # Through the complete action, which goes on with the sequence ...
    done = {"occurred_at": "2025-04-01T15:00:00+00:00"}
    answer = await service.client.post(
        f"/activities/{first['id']}/complete", json=done, headers=STAFF_HEADERS
    )
    assert answer.status_code == 200, answer.text
    second = (await activities_of(service, case_id))["second call"]
    assert due(second) == at9(date(2025, 4, 3))  # from the completion, not the newest call
    # ... once only, however often the step completes.
    assert await complete(service, database, first["id"], datetime.now(UTC)) == []
    assert len(await activities_of(service, case_id)) == 3

    [email] = await complete(service, database, second["id"], datetime(2025, 4, 10, tzinfo=UTC))
    assert (email.subject, email.type, email.due_at) == ("write", "email", at9(date(2025, 4, 9)))
    assert await complete(service, database, str(email.id), datetime(2025, 4, 11, tzinfo=UTC)) == []

    found = await activities_of(service, case_id)
    assert set(found) == {"much later", "first call", "second call", "write"}
    said = await service.said(topics.ACTIVITY_EVENTS, str(case_id), expected=4)
    assert [
        m["data"]["activity"]["subject"] for m in said if m["type"] == "activity.scheduled"
    ] == [
        "much later",
        "first call",
        "second call",
        "write",
    ]


async def complete(service, database, activity_id: str, when: datetime) -> list[Any]:
    """Complete an activity as the complete action does, then go on with its sequence."""
    async with database.transaction() as tx:
        before = await lock_activity(tx, uuid.UUID(activity_id))
        values = {"status": "completed", "occurred_at": when}
        row = await save_activity(tx, service.settings, before, values, "activity.completed")
        return await continue_sequence(tx, service.settings, row)


async def test_a_definition_change_applies_to_later_applications_only(service, database):
    case_type = f"versions_{uuid.uuid4().hex[:6]}"
    v1 = [timeline("standard_timeline", step("follow_up_call", "call", 7))]
    v2 = [timeline("standard_timeline", step("follow_up_call", "call", 14))]
    await publish(service, database, case_type, v1)
    older = await open_case(service, database, case_type)
    await eventually(lambda: activities_of(service, older), timeout_s=20)
    await publish(service, database, case_type, v2, version=2)
    newer = await open_case(service, database, case_type, case_type_version=2)

    [newer_call] = (await eventually(lambda: activities_of(service, newer), timeout_s=20)).values()
    assert due(newer_call) == at9(date(2025, 3, 17))
    [older_call] = (await activities_of(service, older)).values()
    assert due(older_call) == at9(date(2025, 3, 10))  # what was scheduled stays
    # A case keeps its version (as in case-svc) ...
    again = await apply(service, older, "standard_timeline")
    assert again.json()["case_type_version"] == 1
    assert due(again.json()["activities"][0]) == at9(date(2025, 3, 10))
    # ... until it is transferred: then it follows the version it was transferred to.
    transferred = case_event(CASE_TRANSFERRED, case_type, older, version=2, case_type_version=2)
    await service.deliver(topics.CASE_EVENTS, transferred)
    await eventually(lambda: _version_of(database, older, 2), timeout_s=20)
    after = await apply(service, older, "standard_timeline")
    assert after.json()["case_type_version"] == 2
    assert due(after.json()["activities"][0]) == at9(date(2025, 3, 17))


async def test_closing_a_case_cancels_or_keeps_its_scheduled_activities(service, database):
    cancelling = f"cancelling_{uuid.uuid4().hex[:6]}"
    keeping = f"keeping_{uuid.uuid4().hex[:6]}"
    sets = [
        timeline(
            "standard_timeline",
            step("open_case", "opened", status="completed"),
            step("follow_up_call", "call", 7),
            step("follow_up_call", "call again", 14),
        )
    ]
    await publish(service, database, cancelling, sets, on_close="cancel")
    await publish(service, database, keeping, sets)
    cases = {
        (cancelling, CASE_CLOSED): await open_case(service, database, cancelling),
        (cancelling, CASE_MERGED): await open_case(service, database, cancelling),
        (keeping, CASE_CLOSED): await open_case(service, database, keeping),
    }
    for case_id in cases.values():
        await eventually(lambda c=case_id: _at_least(activities_of(service, c), 3), timeout_s=20)
    for (case_type, event_type), case_id in cases.items():
        await service.deliver(topics.CASE_EVENTS, closed(event_type, case_type, case_id))
    for case_id in cases.values():
        await eventually(lambda c=case_id: _closed(database, c), timeout_s=20)

    for (case_type, _), case_id in cases.items():
        found = await activities_of(service, case_id)
        left = "cancelled" if case_type == cancelling else "scheduled"
        mine = ("opened", "call", "call again")
        assert {s: found[s]["status"] for s in mine} == {
            "opened": "completed",
            "call": left,
            "call again": left,
        }
        refused = await apply(service, case_id, "standard_timeline")
        assert refused.status_code == 409

    merged = str(cases[(cancelling, CASE_MERGED)])
    said = await service.said(topics.ACTIVITY_EVENTS, merged, expected=5)
    cancelled = [m for m in said if m["type"] == "activity.cancelled"]
    assert sorted(m["data"]["activity"]["subject"] for m in cancelled) == ["call", "call again"]
    assert cancelled[0]["data"]["changes"]["status"] == {
        "before": "scheduled",
        "after": "cancelled",
    }
    kept = await service.said(
        topics.ACTIVITY_EVENTS, str(cases[(keeping, CASE_CLOSED)]), expected=3
    )
    assert "activity.cancelled" not in {m["type"] for m in kept}


async def _at_least(found_coro, count: int) -> Any:
    found = await found_coro
    return found if len(found) >= count else None


async def _version_of(database: Database, case_id: uuid.UUID, version: int) -> bool:
    row = await case_row(database, case_id)
    return row is not None and row.case_type_version == version


async def _closed(database: Database, case_id: uuid.UUID) -> bool:
    row = await case_row(database, case_id)
    return row is not None and not row.active


def test_a_set_is_applied_only_by_those_who_may_see_the_case():
    case = SimpleNamespace(instance="cases", assignee="ann", created_by="bob")
    own = frozenset({"cases:cases:own"})
    assert may_see_case(StaffUser("zed", frozenset({"cases:*:all"})), case)
    assert may_see_case(StaffUser("ann", own), case) and may_see_case(StaffUser("bob", own), case)
    assert not may_see_case(StaffUser("zed", own), case)
    assert not may_see_case(StaffUser("ann", frozenset({"cases:sales:all"})), case)
