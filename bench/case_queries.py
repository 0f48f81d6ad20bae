"""Benchmark: GET /cases and GET /dashboard/summary on a large caseload.

Creates a fresh case-svc database (migrated like the tests do), loads N cases across 3
instances and 10 case types with SQL (contacts, clients, assignees, closed cases, tags and
2.5 activities per case in the activity projection), then times each query through the app
in-process (httpx over ASGI, no broker: the app's lifespan is not run) and prints p50/p95.

    uv run python bench/case_queries.py                 # 200,000 cases, 50 runs per query
    uv run python bench/case_queries.py --cases 20000 --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from harness import (
    add_database_arguments,
    bench_parser,
    figures,
    in_process,
    measure_app,
    print_timings,
    run_script,
    vacuum_and_count,
)

import case_svc
from case_svc.cases import state_of, states_of
from case_svc.config import Settings
from case_svc.main import create_app
from case_svc.tables import cases
from casestream.persistence.database import Database

MIGRATIONS = Path(case_svc.__file__).parent / "migrations"
WORDS = [
    "water",
    "leak",
    "roof",
    "broken",
    "light",
    "street",
    "noise",
    "neighbour",
    "rent",
    "deposit",
    "repair",
    "heating",
    "boiler",
    "mould",
    "window",
    "door",
    "lock",
    "parking",
    "permit",
    "bin",
    "collection",
    "pothole",
    "tree",
    "pavement",
    "graffiti",
    "benefit",
    "claim",
    "housing",
    "transfer",
    "appeal",
    "complaint",
    "refund",
    "invoice",
    "order",
    "delivery",
    "contract",
    "renewal",
    "upgrade",
    "meeting",
    "quote",
    "proposal",
    "tender",
    "budget",
    "school",
    "place",
    "transport",
    "grant",
    "loan",
    "visa",
    "application",
    "interview",
    "reference",
    "training",
    "course",
    "exam",
    "result",
    "licence",
    "registration",
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Dennis",
    "Frances",
    "Radia",
    "Tim",
    "Linus",
    "Guido",
    "Anita",
    "Sophie",
    "John",
    "Mary",
    "Ahmed",
    "Fatima",
    "Wei",
    "Yuki",
    "Olga",
    "Ivan",
    "Priya",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Ritchie",
    "Allen",
    "Perlman",
    "Lee",
    "Torvalds",
    "Rossum",
    "Borg",
    "Wilson",
    "Smith",
    "Jones",
    "Khan",
    "Hassan",
    "Zhang",
    "Sato",
    "Petrova",
    "Ivanov",
    "Patel",
    "Garcia",
    "Muller",
    "Rossi",
    "Novak",
    "Kowalski",
]

LOAD = """
CREATE TEMP TABLE n_contacts AS
  SELECT n, gen_random_uuid() AS id FROM generate_series(1, :contacts) n;
INSERT INTO contacts (id, first_name, last_name, display_name, email, created_at, updated_at)
  SELECT id, f, l, f || ' ' || l, lower(f || '.' || l || '.' || n || '@example.org'),
         now(), now()
  FROM (SELECT id, n, (CAST(:first AS text[]))[1 + n % :nfirst] AS f, (CAST(:last AS text[]))[1 + (n / 7) % :nlast] AS l
        FROM n_contacts) x;
CREATE TEMP TABLE n_cases AS
  SELECT n, gen_random_uuid() AS id, random() AS r FROM generate_series(1, :cases) n;
INSERT INTO cases (id, instance, case_type, case_type_version, subject, details, status, active,
                   assignee, tags, start_date, created_by, created_at, updated_at, closed_at)
  SELECT id, t.instance, t.name, 1,
         initcap((CAST(:words AS text[]))[1 + n % :nwords]) || ' ' || (CAST(:words AS text[]))[1 + (n / 3) % :nwords] || ' '
           || (CAST(:words AS text[]))[1 + (n / 11) % :nwords] || ' #' || n,
         (SELECT string_agg((CAST(:words AS text[]))[1 + ((n * 31 + k * 17) % :nwords)], ' ')
            FROM generate_series(1, 12 + n % 20) k),
         s.status, s.active,
         CASE WHEN n % 10 < 4 THEN NULL ELSE 'user_' || (n % 50) END,
         CASE WHEN n % 5 = 0 THEN '["urgent"]'::jsonb WHEN n % 17 = 0 THEN '["vip", "urgent"]'
              ELSE '[]'::jsonb END,
         (created - interval '1 day')::date,
         'user_' || ((n * 7) % 50),
         created, created + (r * interval '20 days'),
         CASE WHEN NOT s.active THEN created + interval '30 days' END
  FROM n_cases
  CROSS JOIN LATERAL (SELECT now() - (:cases - n) * interval '1 minute' AS created) c
  JOIN (SELECT name, instance, row_number() OVER (ORDER BY name) - 1 AS k FROM case_types) t
    ON t.k = n % 10
  JOIN (VALUES (0, 'open', true), (1, 'open', true), (2, 'in_progress', true),
               (3, 'waiting', true), (4, 'open', true), (5, 'in_progress', true),
               (6, 'resolved', false), (7, 'cancelled', false)) s(k, status, active)
    ON s.k = (n / 10) % 8;
INSERT INTO case_clients (case_id, contact_id, position)
  SELECT c.id, p.id, 0 FROM n_cases c JOIN n_contacts p ON p.n = 1 + c.n % :contacts;
INSERT INTO case_clients (case_id, contact_id, position)
  SELECT c.id, p.id, 1 FROM n_cases c JOIN n_contacts p ON p.n = 1 + (c.n * 13 + 5) % :contacts
  WHERE c.n % 10 = 3 AND 1 + (c.n * 13 + 5) % :contacts <> 1 + c.n % :contacts;
INSERT INTO case_activities (activity_id, case_id, status, due_at, updated_at, instance,
                             case_active)
  SELECT gen_random_uuid(), k.id,
         CASE WHEN a % 10 < 5 THEN 'scheduled' WHEN a % 10 < 9 THEN 'completed'
              ELSE 'cancelled' END,
         now() + (random() - 0.4) * interval '60 days', now(), k.instance, k.active
  FROM n_cases c JOIN cases k ON k.id = c.id CROSS JOIN generate_series(1, 3) a
  WHERE NOT (a = 3 AND c.n % 2 = 0);
UPDATE cases SET next_activity_at = a.due
  FROM (SELECT case_id, min(due_at) AS due FROM case_activities
        WHERE status = 'scheduled' GROUP BY case_id) a
  WHERE cases.id = a.case_id;
"""

CONFIG = """
INSERT INTO case_statuses (name, label, grouping, weight) VALUES
  ('open', 'Open', 'opened', 1), ('in_progress', 'In progress', 'opened', 2),
  ('waiting', 'Waiting', 'opened', 3), ('resolved', 'Resolved', 'closed', 4),
  ('cancelled', 'Cancelled', 'closed', 5);
INSERT INTO instances (name, label, singular_label, instance_type) VALUES
  ('cases', 'Cases', 'Case', 'case_management'),
  ('applicants', 'Applicants', 'Applicant', 'applicant_management'),
  ('sales', 'Prospects', 'Prospect', 'sales_opportunity');
INSERT INTO case_types (name, title, instance, version, definition)
  SELECT 'type_' || k, 'Type ' || k,
         (ARRAY['cases', 'cases', 'cases', 'cases', 'applicants', 'applicants', 'applicants',
                'sales', 'sales', 'sales'])[k + 1], 1, '{}'::jsonb
  FROM generate_series(0, 9) k;
"""


async def load(url: str, n: int) -> None:
    database = Database(url)
    params = {
        "cases": n,
        "contacts": max(10, n * 3 // 5),
        "words": WORDS,
        "nwords": len(WORDS),
        "first": FIRST,
        "nfirst": len(FIRST),
        "last": LAST,
        "nlast": len(LAST),
    }
    await run_script(database, CONFIG, {})
    await run_script(database, LOAD, params)
    c, p, cc, a = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM contacts), "
        "(SELECT count(*) FROM case_clients), (SELECT count(*) FROM case_activities)",
    )
    await database.dispose()
    print(f"loaded {c} cases, {p} contacts, {cc} case clients, {a} activity rows")


async def pick(database, query: str):
    async with database.session() as s:
        return (await s.execute(sa.text(query))).scalar_one()


async def state_building(database, runs: int) -> list[tuple[str, list[float]]]:
    """A page of 50 cases: four queries per case (cases.state_of) or four for the page."""
    async with database.transaction() as tx:
        rows = (
            await tx.session.execute(sa.select(cases).order_by(cases.c.created_at.desc()).limit(50))
        ).all()
    results = []
    for label, build in (
        ("state_of per row x50", lambda tx: _each(tx, rows)),
        ("states_of batched x50", lambda tx: states_of(tx, rows)),
    ):
        times = []
        for _ in range(runs):
            async with database.transaction() as tx:
                started = time.perf_counter()
                await build(tx)
                times.append((time.perf_counter() - started) * 1000)
        results.append((label, times))
    return results


async def _each(tx, rows):
    return [await state_of(tx, row) for row in rows]


async def run(args: argparse.Namespace) -> None:
    async def loaded(url: str) -> None:
        await load(url, args.cases)

    await measure_app(args, "bench_case", MIGRATIONS, loaded, Settings, create_app, measure)


async def measure(app, database, args: argparse.Namespace) -> None:
    contact = await pick(
        database,
        "SELECT contact_id FROM case_clients GROUP BY contact_id ORDER BY count(*) DESC LIMIT 1",
    )
    surname = await pick(database, "SELECT last_name FROM contacts ORDER BY id LIMIT 1")
    total = await pick(database, "SELECT count(*) FROM cases")
    middle = await pick(
        database, "SELECT min(start_date) + (max(start_date) - min(start_date)) / 2 FROM cases"
    )
    week = {"opened_from": str(middle), "opened_to": str(middle + timedelta(days=6))}
    rare = f"#{total // 2}"
    admin, own, one = "bench-admin", "bench-own", "bench-instance"
    queries = [
        ("default list (active, newest first)", "/cases", {}, admin),
        ("status=in_progress", "/cases", {"status": "in_progress"}, admin),
        ("assignee=me", "/cases", {"assignee": "me"}, admin),
        ("assignee=none", "/cases", {"assignee": "none"}, admin),
        ("instance+case_type", "/cases", {"instance": "sales", "case_type": "type_8"}, admin),
        ("q=common word (boiler)", "/cases", {"q": "boiler"}, admin),
        (f"q=rare ({rare})", "/cases", {"q": rare}, admin),
        (f"q=client surname ({surname})", "/cases", {"q": surname}, admin),
        ("q=two words (roof leak)", "/cases", {"q": "roof leak"}, admin),
        ("client_id", "/cases", {"client_id": str(contact), "active": "all"}, admin),
        ("tag=vip", "/cases", {"tag": "vip"}, admin),
        ("active=false (archive)", "/cases", {"active": "false"}, admin),
        ("active=all", "/cases", {"active": "all"}, admin),
        ("opened in one week (mid-history)", "/cases", week, admin),
        ("sort=-updated_at", "/cases", {"sort": "-updated_at"}, admin),
        ("sort=subject", "/cases", {"sort": "subject"}, admin),
        ("limit=500", "/cases", {"limit": 500}, admin),
        ("own-only token", "/cases", {}, own),
        ("one-instance token", "/cases", {}, one),
        ("dashboard (all instances)", "/dashboard/summary", {}, admin),
        ("dashboard instance=cases", "/dashboard/summary", {"instance": "cases"}, admin),
        ("dashboard own-only token", "/dashboard/summary", {}, own),
        ("dashboard one-instance token", "/dashboard/summary", {}, one),
    ]
    print(f"\n{args.runs} runs each (ms), {total} cases")
    async with in_process(app) as client:
        first = (await client.get("/cases", headers={"Authorization": f"Bearer {admin}"})).json()
        page_2 = (
            "default list, page 2 (cursor)",
            "/cases",
            {"cursor": first["next_cursor"]},
            admin,
        )
        queries.insert(1, page_2)
        await print_timings(client, args.runs, queries, width=48)
    print()
    for label, times in await state_building(database, args.runs):
        print(f"{label:48} {figures(times)}")


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cases", type=int, default=200_000)
    add_database_arguments(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
