"""Migration 0006 merges the two case read models into one without losing a case: each row
keeps the newer copy's state, at a version that lets a re-read of case.events refill what a
copy lacked, and how far timelines had got."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from casestream.persistence.migrations import upgrade

MIGRATIONS = Path(__file__).parents[1] / "src" / "activity_svc" / "migrations"

VIEW = """INSERT INTO case_view (id, instance, case_type, assignee, created_by, active, status,
                                 status_class, client_ids, merged_into, version)
          VALUES ($1, 'cases', 'enquiry', $2, 'bob', $3, $4, 'opened', '["c1"]', NULL, $5)"""
TIMELINES = """INSERT INTO timeline_cases (case_id, instance, case_type, case_type_version,
                                            start_date, active, assignee, created_by, version)
               VALUES ($1, 'cases', 'enquiry', 2, '2025-03-03', $2, $3, 'bob', $4)"""


async def test_both_copies_become_one_row_and_a_one_sided_case_is_kept(create_database):
    url = await create_database("activity_0006")
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0005")
    both, view_newer, only_view, only_timelines = (uuid.uuid4() for _ in range(4))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(VIEW, both, "ann", True, "open", 3)
        await conn.execute(TIMELINES, both, True, "ann", 3)
        await conn.execute(VIEW, view_newer, "cat", False, "resolved", 5)  # closed at 5
        await conn.execute(TIMELINES, view_newer, True, "ann", 4)  # timelines had done 4
        await conn.execute(VIEW, only_view, None, True, "open", 2)
        await conn.execute(TIMELINES, only_timelines, True, "dan", 7)
    finally:
        await conn.close()

    await asyncio.to_thread(upgrade, MIGRATIONS, url)

    conn = await asyncpg.connect(dsn)
    try:
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                "SELECT id, assignee, active, status, case_type_version, start_date::text AS d,"
                " client_ids::text AS clients, version, timeline_version FROM cases"
            )
        }
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('case_view', 'timeline_cases')"
        )
    finally:
        await conn.close()
    assert left == 0
    assert set(rows) == {both, view_newer, only_view, only_timelines}
    assert rows[both] | {"id": None} == {
        "id": None,
        "assignee": "ann",
        "active": True,
        "status": "open",
        "case_type_version": 2,
        "d": "2025-03-03",
        "clients": '["c1"]',
        "version": 3,
        "timeline_version": 3,
    }
    # The newer copy's state, at the older version (a re-read brings both parts up to 5);
    # timelines resume after what they had done.
    newer = rows[view_newer]
    assert (newer["assignee"], newer["active"], newer["status"]) == ("cat", False, "resolved")
    assert (newer["version"], newer["timeline_version"], newer["case_type_version"]) == (4, 4, 2)
    # One copy only: at version 0, so that any event of the case fills in the rest.
    assert (rows[only_view]["version"], rows[only_view]["timeline_version"]) == (0, 0)
    assert rows[only_view]["case_type_version"] is None
    assert (rows[only_timelines]["version"], rows[only_timelines]["timeline_version"]) == (0, 7)
    assert (rows[only_timelines]["assignee"], rows[only_timelines]["status"]) == ("dan", None)
