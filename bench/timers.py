"""Benchmark: 100,000 pending timers coming due at once: time until all have fired, and the rate.

Creates a fresh automation-svc database (migrated like the tests do) and loads, with SQL:
7 enabled rules "7 days after a completed initial call: email the client, tag the case,
schedule a call back" (four of them cancelled if the case closed), the cases read model (one
CaseState per case, 10% of them closed), three activities per case, one firing per case and
N pending actions (send_email / add_tag / schedule_activity) all due at the same instant.
Then runs TimerWorker.fire_due() loops on a manual clock just past that instant, with W
concurrent workers, until nothing is pending, and checks what they did. Each worker count
in --workers runs on freshly reloaded data.

    uv run python bench/timers.py                          # 100,000 timers, 1 worker
    uv run python bench/timers.py -n 10000 --workers 1,2,4 --batch-size 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    add_database_arguments,
    bench_parser,
    int_list,
    pct,
    report,
    run_and_check,
    run_script,
    scratch_database,
    vacuum_and_count,
)

import automation_svc
from automation_svc.config import Settings
from automation_svc.schemas import RuleIn
from automation_svc.timers import TimerWorker
from casestream.clock import ManualClock
from casestream.contracts.case import RoleState
from casestream.persistence.database import Database
from casestream.service import Runtime
from casestream.testing.factories import activity_state, case_state, contact_state

MIGRATIONS = Path(automation_svc.__file__).parent / "migrations"
RULES = 7  # odd, so that which rules carry cancel_if does not line up with closed cases
DUE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
FOLLOW_UP = RuleIn.model_validate(
    {
        "name": "follow-up",
        "trigger": {"event": "activity.completed", "activity_type": "initial_call"},
        "actions": [
            {"type": "send_email", "template": "follow_up", "delay": "P7D"},
            {"type": "add_tag", "tags": ["followed-up"], "delay": "P7D"},
            {
                "type": "schedule_activity",
                "activity_type": "follow_up_call",
                "subject": "Call back",
                "due_in": "P2D",
                "delay": "P7D",
            },
        ],
        "cancel_if": [{"field": "case.status_class", "op": "eq", "value": "closed"}],
    }
)

# Case n is closed when n % 10 = 0; rule k carries the cancel_if when k is even. Every case
# had its initial call completed once: one firing, three actions, its timers.
LOAD = """
TRUNCATE rules, firings, firing_actions, cases, activities, outbox, inbox;
CREATE TEMP TABLE n_rules ON COMMIT DROP AS
  SELECT k, gen_random_uuid() AS id FROM generate_series(0, :rules - 1) k;
INSERT INTO rules (id, name, enabled, version, trigger, conditions, actions, cancel_if)
  SELECT id, 'follow-up ' || k, true, 1, CAST(:trigger AS jsonb), '[]'::jsonb,
         CAST(:actions AS jsonb),
         CASE WHEN k % 2 = 0 THEN CAST(:cancel_if AS jsonb) ELSE '[]'::jsonb END
  FROM n_rules;
CREATE TEMP TABLE n_cases ON COMMIT DROP AS
  SELECT n, gen_random_uuid() AS id, n % 10 = 0 AS closed FROM generate_series(0, :cases - 1) n;
INSERT INTO cases (id, state, version)
  SELECT id, CAST(:case_state AS jsonb) || jsonb_build_object(
           'id', id, 'subject', 'Leaking roof #' || n,
           'status', CASE WHEN closed THEN 'resolved' ELSE 'open' END,
           'status_class', CASE WHEN closed THEN 'closed' ELSE 'opened' END,
           'active', NOT closed), 1
  FROM n_cases;
CREATE TEMP TABLE n_activities ON COMMIT DROP AS
  SELECT gen_random_uuid() AS id, c.id AS case_id, t.type, t.status
  FROM n_cases c CROSS JOIN (VALUES ('initial_call', 'completed'),
    ('follow_up_call', 'scheduled'), ('meeting', 'cancelled')) t(type, status);
INSERT INTO activities (id, case_id, type, status, state, updated_at)
  SELECT id, case_id, type, status, CAST(:activity_state AS jsonb) || jsonb_build_object(
           'id', id, 'case_id', case_id, 'type', type, 'status', status), now()
  FROM n_activities;
CREATE TEMP TABLE n_firings ON COMMIT DROP AS
  SELECT c.n, gen_random_uuid() AS id, r.id AS rule_id, c.id AS case_id, a.id AS activity_id
  FROM n_cases c JOIN n_rules r ON r.k = c.n % :rules
  JOIN n_activities a ON a.case_id = c.id AND a.type = 'initial_call';
INSERT INTO firings (id, rule_id, rule_version, event_id, event_type, case_id)
  SELECT id, rule_id, 1, gen_random_uuid(), 'activity.completed', case_id FROM n_firings;
INSERT INTO firing_actions (id, firing_id, index, occurrence, type, params, state, due_at,
                            rule_id, case_id, activity_id, cancel_if)
  SELECT gen_random_uuid(), f.id, i, 0, (CAST(:types AS text[]))[i + 1],
         CAST(:params AS jsonb) -> i, 'pending', CAST(:due AS timestamptz), f.rule_id,
         f.case_id, f.activity_id, r.cancel_if
  FROM n_firings f CROSS JOIN generate_series(0, 2) i JOIN rules r ON r.id = f.rule_id
  WHERE f.n * 3 + i < :timers
"""


def _states() -> tuple[str, str]:
    """A case and an activity as their events carry them (ids and statuses set per row)."""
    now = datetime.now(UTC)
    case = case_state(
        at=now,
        subject="Leaking roof",
        details="Water comes through the bedroom ceiling whenever it rains.",
        assignee="user_7",
        clients=[
            contact_state(
                last_name="Lovelace", display_name="Ada Lovelace", phone="+44 20 7946 0000"
            )
        ],
        roles=[RoleState(role="advocate", contact_id=uuid.uuid4(), start_date=now.date())],
        tags=["housing", "urgent"],
        custom={"priority": "high", "ward": "Riverside"},
        created_by="user_3",
    )
    activity = activity_state(
        None, at=now, status="completed", occurred_at=now, assignee_ids=["user_7"]
    )
    return json.dumps(case.model_dump(mode="json")), json.dumps(activity.model_dump(mode="json"))


async def load(url: str, timers: int) -> tuple[int, int]:
    """Loads the timers; returns how many are pending, and how many of them should be
    cancelled (their case is closed and they carry the cancel_if)."""
    database = Database(url)
    actions = [a.model_dump(mode="json", exclude_none=True) for a in FOLLOW_UP.actions]
    case_state, activity_state = _states()
    params = {
        "rules": RULES,
        "cases": -(-timers // len(actions)),
        "timers": timers,
        "trigger": json.dumps(FOLLOW_UP.trigger.model_dump(mode="json")),
        "actions": json.dumps(actions),
        "cancel_if": json.dumps([c.model_dump(exclude_none=True) for c in FOLLOW_UP.cancel_if]),
        "types": [a.pop("type") for a in actions],
        "params": json.dumps(actions),  # what firing stores: the action without its type
        "case_state": case_state,
        "activity_state": activity_state,
        "due": DUE,
    }
    await run_script(database, LOAD, params)
    pending, cases, expected = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM firing_actions WHERE state = 'pending'), "
        "(SELECT count(*) FROM cases), "
        "(SELECT count(*) FROM firing_actions a JOIN cases c ON c.id = a.case_id "
        " WHERE a.cancel_if <> '[]'::jsonb AND c.state->>'status_class' = 'closed')",
    )
    await database.dispose()
    print(f"loaded {pending} pending timers over {cases} cases ({expected} to be cancelled)")
    return pending, expected


async def fire_all(database: Database, settings: Settings, workers: int) -> tuple[float, list]:
    """Seconds until no worker finds anything due, and each batch's seconds."""
    clock = ManualClock(DUE + timedelta(seconds=1))
    batches: list[float] = []

    async def worker() -> None:
        timers = TimerWorker(database, settings, clock)
        while True:
            started = time.perf_counter()
            if not await timers.fire_due():
                return
            batches.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - started, batches


async def checks(database: Database, expected_cancelled: int) -> list[tuple[str, bool]]:
    rows, ids, done, cancelled, pending, failed = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM outbox), (SELECT count(DISTINCT message_id) FROM outbox), "
        + ", ".join(
            f"(SELECT count(*) FROM firing_actions WHERE state = '{state}')"
            for state in ("done", "cancelled", "pending", "failed")
        ),
    )
    results = [
        (f"outbox rows {rows} == executed {done}", rows == done),
        (f"distinct message ids {ids} == rows", ids == rows),
        (
            f"cancelled {cancelled} == expected {expected_cancelled}",
            cancelled == expected_cancelled,
        ),
        (f"pending {pending} == 0", pending == 0),
        (f"failed {failed} == 0", failed == 0),
    ]
    return results


async def run(args: argparse.Namespace) -> bool:
    loaded: list[tuple[int, int]] = []  # (pending, to be cancelled) of the current load

    async def first_load(url: str) -> None:
        loaded.append(await load(url, args.n))

    print("A timer has fired once its command is committed in the outbox, with its row marked")
    print("done (no Kafka here: the outbox relay is measured elsewhere).")
    all_ok = True
    async with scratch_database(args, "bench_timers", MIGRATIONS, first_load) as url:
        settings = Settings(
            database_url=url, timer_batch_size=args.batch_size, log_json=False, log_level="WARNING"
        )
        print(
            f"\n{'timers':>7} {'workers':>7} {'batch':>6} {'seconds':>8} {'timers/s':>9} "
            f"{'p50 batch s':>11} {'p99 batch s':>11}"
        )
        for i, workers in enumerate(args.workers):
            if i > 0 or not loaded:  # the last run fired them all (or --reuse): load again
                loaded[:] = [await load(url, args.n)]
            [(fired, to_cancel)] = loaded
            database = Runtime(settings).database  # the pool and outbox settings it runs with
            seconds, batches = await fire_all(database, settings, workers)
            results = await checks(database, to_cancel)
            await database.dispose()
            all_ok &= report(
                f"{fired:7} {workers:7} {args.batch_size:6} {seconds:8.1f} "
                f"{fired / seconds:9.0f} {pct(batches, 50):11.3f} {pct(batches, 99):11.3f}",
                results,
            )
    return all_ok


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="pending timers")
    parser.add_argument(
        "--workers",
        type=int_list,
        default=[1],
        help="concurrent workers; a list (1,2,4) runs each on freshly loaded data",
    )
    parser.add_argument(
        "--batch-size", type=int, default=Settings.model_fields["timer_batch_size"].default
    )
    add_database_arguments(parser)
    run_and_check(parser, run, "automation-svc")


if __name__ == "__main__":
    main()
