"""Benchmark: "what is due" (GET /activities) and a case's timeline on a large history.

Creates a fresh activity-svc database (migrated like the tests do), loads N activities over
N/10 cases with SQL (the case read model, activities of every status with one or two of 50
assignees, their assignee rows), then times each query through the app in-process (httpx
over ASGI, no broker: the app's lifespan is not run) and prints p50/p95.

    uv run python bench/activity_queries.py                    # 1,000,000 activities
    uv run python bench/activity_queries.py --activities 100000 --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import sqlalchemy as sa
from harness import (
    add_database_arguments,
    bench_parser,
    in_process,
    measure_app,
    print_timings,
    run_script,
    vacuum_and_count,
)

import activity_svc
from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream.persistence.database import Database

MIGRATIONS = Path(activity_svc.__file__).parent / "migrations"
USERS = 50

# Cases: 3 instances; 60% assigned to one of 50 users; opened by one of them. Activities:
# 10 per case, 20% scheduled (due from 40 days ago to 100 days ahead: about 30% overdue),
# 70% completed, 10% cancelled, over two years of history; one assignee, two for 1 in 7.
LOAD = """
INSERT INTO cases (id, instance, case_type, assignee, created_by, active, status,
                   status_class, client_ids, version)
  SELECT gen_random_uuid(), (ARRAY['cases', 'applicants', 'sales'])[1 + n % 3],
         'type_' || n % 10, CASE WHEN n % 10 < 4 THEN NULL ELSE 'user_' || n % :users END,
         'user_' || (n * 7) % :users, n % 8 < 6,
         CASE WHEN n % 8 < 6 THEN 'open' ELSE 'resolved' END,
         CASE WHEN n % 8 < 6 THEN 'opened' ELSE 'closed' END, '[]'::jsonb, 1
  FROM generate_series(1, :cases) n;
CREATE TEMP TABLE n_cases AS
  SELECT id, row_number() OVER (ORDER BY id) AS n FROM cases;
INSERT INTO activities (id, case_id, type, subject, status, due_at, occurred_at,
                        assignee_ids, with_contact_ids, priority, created_by, created_at,
                        updated_at)
  SELECT gen_random_uuid(), c.id,
         (ARRAY['follow_up_call', 'email', 'open_case', 'change_case_status'])[1 + a % 4],
         'Activity ' || a || ' of case ' || c.n, s.status,
         CASE WHEN s.status = 'scheduled' THEN now() + (random() * 140 - 40) * interval '1 day'
              ELSE t.at END,
         CASE WHEN s.status = 'completed' THEN t.at END,
         CASE WHEN a % 7 = 0
              THEN jsonb_build_array('user_' || (c.n * 3 + a) % :users,
                                     'user_' || (c.n * 3 + a + 1) % :users)
              ELSE jsonb_build_array('user_' || (c.n * 3 + a) % :users) END,
         '[]'::jsonb, 'normal', 'user_' || (c.n * 7) % :users, t.at, t.at
  FROM n_cases c CROSS JOIN generate_series(1, :per_case) a
  CROSS JOIN LATERAL (SELECT now() - random() * interval '730 days' AS at) t
  CROSS JOIN LATERAL (SELECT CASE WHEN (c.n + a) % 10 < 2 THEN 'scheduled'
                                  WHEN (c.n + a) % 10 < 9 THEN 'completed'
                                  ELSE 'cancelled' END AS status) s;
INSERT INTO activity_assignees (activity_id, assignee, status, due_at, due_time)
  SELECT id, a.assignee, status, due_at, coalesce(due_at, occurred_at, created_at)
  FROM activities, LATERAL jsonb_array_elements_text(assignee_ids) AS a(assignee)
"""


async def load(url: str, activities: int) -> None:
    database = Database(url)
    per_case = 10
    params = {"cases": max(1, activities // per_case), "per_case": per_case, "users": USERS}
    await run_script(database, LOAD, params)
    c, a, aa, overdue = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM activities), "
        "(SELECT count(*) FROM activity_assignees), "
        "(SELECT count(*) FROM activities WHERE status = 'scheduled' AND due_at < now())",
    )
    await database.dispose()
    print(f"loaded {c} cases, {a} activities ({overdue} overdue), {aa} assignee rows")


async def column(database, query: str) -> list:
    async with database.session() as s:
        return list((await s.execute(sa.text(query))).scalars())


async def measure(app, database, args: argparse.Namespace) -> None:
    cases = [
        str(c) for c in await column(database, "SELECT id FROM cases ORDER BY random() LIMIT 200")
    ]
    own_cases = [
        str(c)
        for c in await column(
            database,
            "SELECT id FROM cases WHERE assignee = 'user_6' OR created_by = 'user_6' "
            "ORDER BY random() LIMIT 200",
        )
    ]
    admin, own, one = "bench-admin", "bench-own", "bench-instance"
    overdue = {"assignee": "me", "overdue": "true"}
    queries = [
        ("my overdue (assignee=me&overdue=true)", lambda i: "/activities", overdue, admin),
        ("my overdue, own-cases token", lambda i: "/activities", overdue, own),
        ("my overdue, one-instance token", lambda i: "/activities", overdue, one),
        ("my overdue, limit=500", lambda i: "/activities", {**overdue, "limit": 500}, admin),
        (
            "my scheduled (status=scheduled)",
            lambda i: "/activities",
            {"assignee": "me", "status": "scheduled"},
            admin,
        ),
        ("my everything (assignee=me)", lambda i: "/activities", {"assignee": "me"}, admin),
        ("everyone's overdue (overdue=true)", lambda i: "/activities", {"overdue": "true"}, admin),
        ("everyone's overdue, own-cases token", lambda i: "/activities", {"overdue": "true"}, own),
        ("a case's timeline", lambda i: f"/cases/{cases[i % len(cases)]}/activities", {}, admin),
        (
            "a case's timeline, own-cases token",
            lambda i: f"/cases/{own_cases[i % len(own_cases)]}/activities",
            {},
            own,
        ),
        (
            "a case's scheduled (case_id&status)",
            lambda i: "/activities",
            {"case_id": cases[0], "status": "scheduled"},
            admin,
        ),
    ]
    print(f"\n{args.runs} runs each (ms)")
    async with in_process(app) as client:
        first = await client.get(
            "/activities", params=overdue, headers={"Authorization": f"Bearer {admin}"}
        )
        cursor = first.json()["next_cursor"]
        if cursor:
            queries.insert(
                1,
                (
                    "my overdue, page 2 (cursor)",
                    lambda i: "/activities",
                    {**overdue, "cursor": cursor},
                    admin,
                ),
            )
        await print_timings(client, args.runs, queries, width=44)


async def run(args: argparse.Namespace) -> None:
    async def loaded(url: str) -> None:
        await load(url, args.activities)

    await measure_app(args, "bench_activity", MIGRATIONS, loaded, Settings, create_app, measure)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--activities", type=int, default=1_000_000)
    add_database_arguments(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
