"""The dashboard's numbers, and next_activity_at kept from activity events.

The counts are of everything there is: the test of them has the known case load in a
database of its own; the others share one for the module, each on cases no other of them
touches (and reading only its own activities). Activity events from the broker go to the
session's service."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa

from case_svc.activity_view import case_activities, track_activities
from case_svc.dashboard import case_counts
from case_svc.tables import cases
from casestream import topics
from casestream.contracts.activity import ActivityEnvelope, ActivityEvent, ActivityState
from casestream.envelope import new_envelope
from casestream.persistence.tables import outbox
from casestream.testing.plugin import eventually

from .conftest import unique
from .test_case_finding import (
    as_user,
    caseload,
    known_caseload,
    set_values,
)

__all__ = ["caseload"]  # the fixture (module-scoped: this module's own), as test_case_finding's


@pytest.fixture
async def own_caseload(create_database, kafka_bootstrap):
    """The known data set in a database of the test's own."""
    async with known_caseload(create_database, kafka_bootstrap) as load:
        yield load


NOW = datetime.now(UTC)


def activity(case_id, status="scheduled", due_in_days=1.0, *, activity_id=None, at=None):
    """An activity event as activity-svc says it; ``at`` is the activity's updated_at."""
    at = at or datetime.now(UTC)
    state = ActivityState(
        id=activity_id or uuid.uuid4(),
        case_id=case_id,
        type="follow_up_call",
        status=status,
        due_at=None if due_in_days is None else NOW + timedelta(days=due_in_days),
        created_at=at,
        updated_at=at,
    )
    envelope = new_envelope(
        type=f"activity.{status}",
        source="activity-svc",
        subject=str(case_id),
        data=ActivityEvent(activity=state),
    )
    return ActivityEnvelope.model_validate(envelope.model_dump(mode="json"))


async def track(database, *envelopes) -> None:
    for envelope in envelopes:
        async with database.transaction() as tx:
            await track_activities([envelope], tx)


async def summary(load, token=None, **params):
    headers = as_user(token) if token else {}
    response = await load.api.get("/dashboard/summary", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    body["grid"] = {(c["case_type"], c["status"]): c["count"] for c in body["counts"]}
    return body


async def test_dashboard_counts_what_each_token_may_see(own_caseload):
    caseload = own_caseload
    ids = caseload.ids
    await track(
        caseload.database,
        activity(ids["streetlight"], due_in_days=-1),  # overdue
        activity(ids["streetlight"], due_in_days=3),
        activity(ids["bins"], "completed", due_in_days=-2),  # done: not overdue
        activity(ids["pothole"], due_in_days=-0.5),  # overdue
        activity(ids["archived"], due_in_days=-5),  # closed case: not work to do
        activity(ids["order"], due_in_days=-1),  # overdue, in sales
        activity(ids["legacy"], due_in_days=-1),  # disabled instance: hidden
    )
    everything = await summary(caseload)
    assert everything["grid"] == {
        ("complaint", "in_progress"): 1,
        ("complaint", "open"): 1,
        ("deal", "open"): 1,
        ("general_enquiry", "open"): 2,
        ("general_enquiry", "resolved"): 1,
    }
    assert everything["closed_statuses"] == ["resolved"]
    resolved = next(c for c in everything["counts"] if c["status"] == "resolved")
    assert resolved["status_class"] == "closed" and resolved["status_label"] == "Resolved"
    assert (everything["my_open"], everything["available"]) == (1, 2)
    assert everything["overdue_activities"] == 3

    only = await summary(caseload, instance="cases")
    assert ("deal", "open") not in only["grid"] and len(only["grid"]) == 4
    assert (only["my_open"], only["available"], only["overdue_activities"]) == (1, 2, 2)

    olga = await summary(caseload, "olga-token")  # own-only: bins (hers) and pothole (by her)
    assert olga["grid"] == {("complaint", "in_progress"): 1, ("complaint", "open"): 1}
    assert (olga["my_open"], olga["available"], olga["overdue_activities"]) == (1, 1, 1)

    sam = await summary(caseload, "sam-token", instance="sales")
    assert sam["grid"] == {("deal", "open"): 1}
    assert (sam["my_open"], sam["available"], sam["overdue_activities"]) == (1, 0, 1)

    nora = await summary(caseload, "nora-token")
    assert (nora["counts"], nora["my_open"], nora["available"], nora["overdue_activities"]) == (
        [],
        0,
        0,
        0,
    )
    for token, instance, status in [
        ("olga-token", "sales", 403),
        ("nora-token", "cases", 403),
        (None, "nowhere", 404),
    ]:
        headers = as_user(token) if token else {}
        response = await caseload.api.get(
            "/dashboard/summary", params={"instance": instance}, headers=headers
        )
        assert response.status_code == status, (token, instance, response.text)

    # The counters follow every write to cases, whatever wrote it.
    await set_values(caseload.database, ids["pothole"], assignee="tester")
    await set_values(caseload.database, ids["bins"], status="resolved", active=False)
    after = await summary(caseload, instance="cases")
    assert (after["my_open"], after["available"], after["overdue_activities"]) == (2, 1, 2)
    assert after["grid"][("complaint", "resolved")] == 1
    assert ("complaint", "in_progress") not in after["grid"]
    # Closing a case, and moving one to another instance, move their overdue work too.
    await set_values(caseload.database, ids["pothole"], status="resolved", active=False)
    await set_values(caseload.database, ids["order"], instance="cases", case_type="complaint")
    after = await summary(caseload, instance="cases")
    assert (after["my_open"], after["available"], after["overdue_activities"]) == (1, 1, 2)
    assert (await summary(caseload, instance="sales"))["overdue_activities"] == 0
    await counters_match_cases(caseload.database)


_KEY = [cases.c.instance, cases.c.case_type, cases.c.status, cases.c.active, cases.c.assignee]


async def counters_match_cases(database) -> None:
    """Summed over slots, the counters say what a count of cases says."""
    async with database.session() as s:
        key = _KEY
        counted = (
            sa.select(
                case_counts.c.instance,
                case_counts.c.case_type,
                case_counts.c.status,
                case_counts.c.active,
                sa.func.nullif(case_counts.c.assignee, ""),
                sa.func.sum(case_counts.c.n),
            )
            .group_by(*list(case_counts.c)[:5])
            .having(sa.func.sum(case_counts.c.n) != 0)
        )
        actual = sa.select(*key, sa.func.count()).group_by(*key)
        assert set((await s.execute(counted)).all()) == set((await s.execute(actual)).all())


async def test_concurrent_writers_never_queue_on_the_counters(caseload):
    """Eight transactions open at once, each adding a case under the same counter key, from
    connections whose process ids fall on only four slots (``pid % 8``, the old choice): each
    takes a slot no other holds, so none waits for another to commit (a two-second lock
    timeout fails the one that would)."""
    copy = (
        "INSERT INTO cases SELECT (jsonb_populate_record(NULL::cases, to_jsonb(c) "
        "|| jsonb_build_object('id', gen_random_uuid(), 'source_submission_id', null))).* "
        "FROM cases c WHERE id = $1"
    )
    dsn = caseload.database.asyncpg_dsn()
    opened = [await asyncpg.connect(dsn) for _ in range(24)]
    by_slot: dict[int, list] = {}
    for conn in opened:
        by_slot.setdefault(await conn.fetchval("SELECT pg_backend_pid() % 8"), []).append(conn)
    pairs = [conns[:2] for conns in by_slot.values() if len(conns) >= 2][:4]
    writers = [conn for pair in pairs for conn in pair]
    assert len(writers) == 8
    try:
        for conn in writers:
            await conn.execute("BEGIN; SET LOCAL lock_timeout = '2s'")
            await conn.execute(copy, caseload.ids["pothole"])
        for conn in writers:
            await conn.execute("COMMIT")
    finally:
        for conn in opened:
            await conn.close()
    await counters_match_cases(caseload.database)
    async with caseload.database.session() as s:
        pothole = sa.select(*_KEY).where(cases.c.id == caseload.ids["pothole"]).subquery()
        slots = sa.select(sa.func.count(sa.distinct(case_counts.c.slot))).where(
            *(
                case_counts.c[c.name] == sa.func.coalesce(pothole.c[c.name], "")
                if c.name == "assignee"
                else case_counts.c[c.name] == pothole.c[c.name]
                for c in _KEY
            )
        )
        assert await s.scalar(slots) == 8  # the copies' eight, one each


async def case_row(database, case_id):
    async with database.session() as s:
        query = sa.select(cases.c.next_activity_at, cases.c.version, cases.c.updated_at)
        return (await s.execute(query.where(cases.c.id == case_id))).one()


async def case_events(database) -> int:
    async with database.session() as s:
        query = sa.select(sa.func.count()).where(outbox.c.topic.endswith(topics.CASE_EVENTS))
        return (await s.execute(query)).scalar_one()


async def test_next_activity_at_follows_the_scheduled_activities(caseload):
    database, case_id = caseload.database, uuid.UUID(caseload.ids["neighbours"])
    before, events = await case_row(database, case_id), await case_events(database)
    first, second = uuid.uuid4(), uuid.uuid4()
    t0 = datetime.now(UTC)

    await track(database, activity(case_id, due_in_days=5, activity_id=first, at=t0))
    assert (await case_row(database, case_id)).next_activity_at == NOW + timedelta(days=5)
    await track(database, activity(case_id, due_in_days=2, activity_id=second, at=t0))
    assert (await case_row(database, case_id)).next_activity_at == NOW + timedelta(days=2)
    completed = activity(case_id, "completed", 2, activity_id=second, at=t0 + timedelta(1))
    await track(database, completed)
    assert (await case_row(database, case_id)).next_activity_at == NOW + timedelta(days=5)
    # Redelivered, or arriving late: changes nothing more.
    stale = activity(case_id, due_in_days=2, activity_id=second, at=t0)
    await track(database, completed, stale)
    assert (await case_row(database, case_id)).next_activity_at == NOW + timedelta(days=5)
    # Moved to another day (activity.updated), then cancelled: none left.
    await track(database, activity(case_id, due_in_days=9, activity_id=first, at=t0 + timedelta(1)))
    assert (await case_row(database, case_id)).next_activity_at == NOW + timedelta(days=9)
    await track(
        database, activity(case_id, "cancelled", 9, activity_id=first, at=t0 + timedelta(2))
    )
    after = await case_row(database, case_id)
    assert after.next_activity_at is None
    # Derived data: no new version, no history, no case event.
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    assert await case_events(database) == events
    async with database.session() as s:
        mine = sa.or_(
            case_activities.c.case_id == case_id,
            case_activities.c.activity_id.in_([first, second]),
        )
        rows = (await s.execute(sa.select(case_activities).where(mine))).all()
    assert {(r.activity_id, r.case_id, r.status) for r in rows} == {
        (first, case_id, "cancelled"),
        (second, case_id, "completed"),
    }

    # Activities with no case, and for a case we do not know, are harmless.
    await track(database, activity(None), activity(uuid.uuid4()))
    listed = (await caseload.api.get("/cases", params={"q": "noisy"})).json()["items"]
    assert listed[0]["next_activity_at"] is None


async def test_a_batch_of_activity_events_ends_as_they_would_one_by_one(caseload):
    """A consumed batch goes to the handler at once: several states of one activity (the
    newest wins, whatever the order), an activity moved to another case, a stale repeat."""
    database = caseload.database  # not on neighbours: the test above has those
    here, there = uuid.UUID(caseload.ids["bins"]), uuid.UUID(caseload.ids["streetlight"])
    first, second, moving = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t0 = datetime.now(UTC)
    await track(database, activity(there, due_in_days=1, activity_id=moving, at=t0))
    assert (await case_row(database, there)).next_activity_at == NOW + timedelta(days=1)

    batch = [
        activity(here, due_in_days=5, activity_id=first, at=t0),
        activity(here, due_in_days=2, activity_id=second, at=t0),
        activity(here, "completed", 2, activity_id=second, at=t0 + timedelta(1)),
        activity(here, due_in_days=2, activity_id=second, at=t0),  # stale: older than completed
        activity(here, due_in_days=4, activity_id=moving, at=t0 + timedelta(1)),  # moved here
    ]
    async with database.transaction() as tx:
        await track_activities(batch, tx)

    assert (await case_row(database, here)).next_activity_at == NOW + timedelta(days=4)
    assert (await case_row(database, there)).next_activity_at is None  # the moved one left
    async with database.session() as s:
        query = sa.select(case_activities).where(
            case_activities.c.activity_id.in_([first, second, moving])
        )
        rows = {r.activity_id: r for r in (await s.execute(query)).all()}
    assert set(rows) == {first, second, moving}
    assert (rows[second].status, rows[moving].case_id) == ("completed", here)


async def test_activity_events_from_the_broker_set_next_activity_at(service):
    api, subject = service.client, unique("Call me back")
    body = {
        "case_type": "general_enquiry",
        "subject": subject,
        "client": {"first_name": "Bo", "email": f"{unique('bo')}@example.org"},
    }
    opened = await api.post("/cases", json=body)
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    later, sooner = activity(case_id, due_in_days=4), activity(case_id, due_in_days=1)
    for envelope in (later, later, sooner):  # the first one twice
        await service.deliver(topics.ACTIVITY_EVENTS, envelope, key=case_id)

    sooner_due = NOW + timedelta(days=1)

    async def sooner_landed():
        case = (await api.get(f"/cases/{case_id}")).json()
        at = case["next_activity_at"]
        return case if at and datetime.fromisoformat(at) == sooner_due else None

    # One key, one partition, in order: when the last has landed, so has the duplicate.
    case = await eventually(sooner_landed, timeout_s=30)
    assert case["version"] == 1
    listed = (await api.get("/cases", params={"q": subject})).json()["items"]
    assert [c["id"] for c in listed] == [case_id]
    assert listed[0]["next_activity_at"] == case["next_activity_at"]
    async with service.database.session() as s:
        count = await s.execute(
            sa.select(sa.func.count())
            .select_from(case_activities)
            .where(case_activities.c.case_id == uuid.UUID(case_id))
        )
        assert count.scalar_one() == 2
