"""Benchmark: GET /dashboard/pipeline on a large sales pipeline.

Creates a fresh case-svc database (migrated like the tests do), loads N opportunities with
SQL into two sales instances (5 case types, 6 statuses with probabilities, 3 currencies,
50 owners, expected close dates over two years, a third closed won or lost over three
years), through the triggers that keep the pipeline's totals, then times the pipeline
through the app in-process (httpx over ASGI, no broker) and prints p50/p95.

    uv run python bench/sales_pipeline.py                  # 200,000 opportunities, 50 runs
    uv run python bench/sales_pipeline.py --opportunities 20000 --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from harness import (
    add_database_arguments,
    bench_parser,
    in_process,
    measure_app,
    print_timings,
    run_script,
    vacuum_and_count,
)

import case_svc
from case_svc.config import Settings
from case_svc.main import create_app
from casestream.persistence.database import Database

MIGRATIONS = Path(case_svc.__file__).parent / "migrations"

CONFIG = """
INSERT INTO case_statuses (name, label, grouping, weight, probability) VALUES
  ('lead', 'Lead', 'opened', 1, 10), ('qualified', 'Qualified', 'opened', 2, 30),
  ('proposal', 'Proposal', 'opened', 3, 50), ('negotiation', 'Negotiation', 'opened', 4, 90),
  ('won', 'Won', 'closed', 5, 100), ('lost', 'Lost', 'closed', 6, 0);
INSERT INTO instances (name, label, singular_label, instance_type) VALUES
  ('sales', 'Prospects', 'Prospect', 'sales_opportunity'),
  ('partners', 'Partner deals', 'Partner deal', 'sales_opportunity');
INSERT INTO case_types (name, title, instance, version, definition)
  SELECT 'deal_' || k, 'Deal ' || k, CASE WHEN k < 3 THEN 'sales' ELSE 'partners' END, 1,
         '{}'::jsonb
  FROM generate_series(0, 4) k;
"""

LOAD = """
INSERT INTO cases (id, instance, case_type, case_type_version, subject, status, active,
                   assignee, start_date, end_date, closed_at, outcome, opportunity,
                   created_by, created_at, updated_at)
  SELECT gen_random_uuid(), CASE WHEN n % 5 < 3 THEN 'sales' ELSE 'partners' END,
         'deal_' || (n % 5), 1, 'Deal #' || n, s.status, s.active,
         CASE WHEN n % 10 = 0 THEN NULL ELSE 'user_' || (n % 50) END,
         opened::date, CASE WHEN NOT s.active THEN (opened + (n % 90) * interval '1 day')::date END,
         CASE WHEN NOT s.active THEN opened + (n % 90) * interval '1 day' END,
         CASE WHEN NOT s.active THEN s.status END,
         jsonb_build_object(
           'amount', ((n * 7919) % 1000000) / 100.0 || '',
           'currency', (ARRAY['EUR', 'USD', 'GBP'])[1 + n % 3],
           'probability', s.probability, 'probability_set', false,
           'expected_close_date', (now() + ((n % 730) - 120) * interval '1 day')::date),
         'user_' || ((n * 7) % 50), opened, opened
  FROM generate_series(1, :opportunities) n
  CROSS JOIN LATERAL (SELECT now() - (n % 1095) * interval '1 day' AS opened) o
  JOIN (VALUES (0, 'lead', true, 10), (1, 'qualified', true, 30), (2, 'proposal', true, 50),
               (3, 'negotiation', true, 90), (4, 'won', false, 100), (5, 'lost', false, 0))
       s(k, status, active, probability)
    ON s.k = (n / 7) % 6;
"""


async def load(url: str, n: int) -> None:
    database = Database(url)
    await run_script(database, CONFIG, {})
    await run_script(database, LOAD, {"opportunities": n})
    o, t, c, op = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM pipeline_totals), "
        "(SELECT count(*) FROM pipeline_closings), (SELECT count(*) FROM pipeline_opened)",
    )
    await database.dispose()
    print(
        f"loaded {o} opportunities: {t} pipeline_totals rows, {c} pipeline_closings rows, "
        f"{op} pipeline_opened rows"
    )


async def run(args: argparse.Namespace) -> None:
    async def loaded(url: str) -> None:
        await load(url, args.opportunities)

    await measure_app(args, "bench_pipeline", MIGRATIONS, loaded, Settings, create_app, measure)


async def measure(app, database, args: argparse.Namespace) -> None:
    admin, own = "bench-admin", "bench-own"
    queries = [
        ("every sales instance", "/dashboard/pipeline", {}, admin),
        ("instance=sales", "/dashboard/pipeline", {"instance": "sales"}, admin),
        ("instance+case_type", "/dashboard/pipeline", {"case_type": "deal_1"}, admin),
        ("owner=user_3", "/dashboard/pipeline", {"owner": "user_3"}, admin),
        ("currency=EUR", "/dashboard/pipeline", {"currency": "EUR"}, admin),
        (
            "win rate over one quarter",
            "/dashboard/pipeline",
            {"closed_from": "2026-01-01", "closed_to": "2026-03-31"},
            admin,
        ),
        ("own-cases token (held + opened)", "/dashboard/pipeline", {}, own),
    ]
    print(f"\n{args.runs} runs each (ms), {args.opportunities} opportunities")
    async with in_process(app) as client:
        await print_timings(client, args.runs, queries, width=40)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--opportunities", type=int, default=200_000)
    add_database_arguments(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
