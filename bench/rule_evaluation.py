"""Benchmark: rules evaluated per second on a stream of case events.

Creates a fresh automation-svc database (migrated like the tests do) with R enabled rules
spread over case.opened / case.status_changed / case.updated and a history of past firings.
Each rule holds for the cases of one bucket in ten, said in one of five ways (eq; in; gt and
lt in an all group; contains in an any group, with ne; changed_to or contains), so about 10%
of the rules an event is checked against fire. Then feeds E case events (three per case:
opened, updated, status changed) through Handlers.fire_rules_on_case_event, each in its own
transaction with its inbox claim as the consumer does, from C feeders on distinct cases, and
checks what the run added against what the buckets predict. Each --concurrency value starts
from freshly loaded rules and history.

    uv run python bench/rule_evaluation.py                 # 200 rules, 20,000 events, C=1,4
    uv run python bench/rule_evaluation.py --rules 50 --events 2000 --concurrency 2
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from sqlalchemy.dialects.postgresql import insert

import automation_svc
from automation_svc.config import Settings
from automation_svc.handlers import Handlers
from automation_svc.matching import triggers_for
from automation_svc.schemas import RuleIn
from automation_svc.tables import rules
from casestream.clock import SystemClock
from casestream.contracts.case import (
    CASE_OPENED,
    CASE_STATUS_CHANGED,
    CASE_UPDATED,
    CaseEnvelope,
    CaseEvent,
    CaseState,
    Change,
)
from casestream.persistence.database import Database
from casestream.service import Runtime
from casestream.testing.factories import case_state

MIGRATIONS = Path(automation_svc.__file__).parent / "migrations"
TRIGGERS = (CASE_OPENED, CASE_STATUS_CHANGED, CASE_UPDATED)
BUCKETS = 10
ACTIONS = (  # the first, second and fourth publish a command at once; the third waits
    {"type": "add_tag", "tags": ["triaged"]},
    {"type": "send_email", "template": "acknowledgement"},
    {"type": "send_email", "template": "follow_up", "delay": "P7D"},
    {"type": "schedule_activity", "activity_type": "initial_call", "due_in": "P1D"},
)
EMPTY = "TRUNCATE rules, firings, firing_actions, cases, deferred_events, outbox, inbox"
# A service that has been running a while: past firings, each with its done action, and
# their events' inbox claims. Without them PostgreSQL plans (and caches per connection) the
# foreign key check of firing_actions on firings for an empty table, a sequential scan that
# grows with every firing: the local server runs without autovacuum to re-plan it.
HISTORY = """
INSERT INTO firings (id, rule_id, rule_version, event_id, event_type, case_id, fired_at)
  SELECT gen_random_uuid(), r.id, 1, gen_random_uuid(), r.trigger->>'event', gen_random_uuid(),
         now() - n * interval '1 minute'
  FROM generate_series(1, :history) n
  JOIN (SELECT id, trigger, row_number() OVER (ORDER BY id) - 1 AS k FROM rules) r
    ON r.k = n % :rules;
INSERT INTO firing_actions (id, firing_id, index, occurrence, type, params, state, command_id,
                            rule_id, case_id, executed_at)
  SELECT id, firing_id, 0, 0, 'add_tag', '{"tags": ["triaged"]}'::jsonb, 'done', id, rule_id,
         case_id, fired_at
  FROM (SELECT gen_random_uuid() AS id, id AS firing_id, rule_id, case_id, fired_at
        FROM firings) a;
INSERT INTO inbox (consumer, message_id, processed_at)
  SELECT :consumer, event_id, fired_at FROM firings
"""


def _is(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def conditions(bucket: int, form: int, event: str) -> list[dict[str, Any]]:
    """Five ways of saying "the case is in this bucket"."""
    if form == 0:
        return [_is("case.custom.bucket", "eq", bucket)]
    if form == 1:
        return [
            _is("case.instance", "eq", "cases"),
            _is("case.custom.bucket", "in", [bucket, bucket + BUCKETS]),
        ]
    if form == 2:
        return [
            {
                "all": [
                    _is("case.custom.bucket", "gt", bucket - 0.5),
                    _is("case.custom.bucket", "lt", bucket + 0.5),
                ]
            }
        ]
    if form == 3:
        return [
            _is("case.status", "ne", "cancelled"),
            {
                "any": [
                    _is("case.tags", "contains", f"bucket-{bucket}"),
                    _is("case.custom.ward", "eq", "Nowhere"),
                ]
            },
        ]
    if event == CASE_STATUS_CHANGED:
        return [_is("case.status", "changed_to", f"stage_{bucket}")]
    return [_is("case.subject", "contains", f"[b{bucket}]")]


def rule(k: int) -> tuple[RuleIn, str, int]:
    """Rule number k, the event it is triggered by and the bucket it holds for."""
    event, bucket = TRIGGERS[k % 3], (k // 3) % BUCKETS
    trigger = {"event": event, **({"instance": "cases"} if k % 2 else {})}
    spec = RuleIn.model_validate(
        {
            "name": f"rule {k}",
            "trigger": trigger,
            "conditions": conditions(bucket, (k // 30) % 5, event),
            "actions": [ACTIONS[k % len(ACTIONS)]],
        }
    )
    return spec, event, bucket


def stored(spec: RuleIn) -> dict[str, Any]:
    """The row the rules API would write for this rule."""
    return dict(
        id=uuid.uuid4(),
        version=1,
        name=spec.name,
        enabled=spec.enabled,
        trigger=spec.trigger.model_dump(mode="json"),
        conditions=[c.model_dump(mode="json", exclude_none=True) for c in spec.conditions],
        actions=[a.model_dump(mode="json", exclude_none=True) for a in spec.actions],
        cancel_if=[],
    )


async def load(url: str, args: argparse.Namespace) -> None:
    """Empties the tables a run writes, and loads the rules and the history."""
    database = Database(url)
    await run_script(database, EMPTY, {})
    async with database.transaction() as tx:
        await tx.session.execute(insert(rules), [stored(rule(k)[0]) for k in range(args.rules)])
    consumer = Settings(database_url=url).group("case_rules")
    params = {"history": args.history, "rules": args.rules, "consumer": consumer}
    await run_script(database, HISTORY, params)
    loaded, fired = await vacuum_and_count(
        database,
        "SELECT (SELECT count(*) FROM rules WHERE enabled), (SELECT count(*) FROM firings)",
    )
    await database.dispose()
    print(f"loaded {loaded} enabled rules and {fired} past firings")


def case_events(n: int) -> list[CaseEnvelope]:
    """Case n (in bucket n % 10) opened, updated, then moved to stage_<bucket>."""
    bucket, now = n % BUCKETS, datetime.now(UTC)
    case = case_state(
        at=now,
        subject=f"Leaking roof #{n} [b{bucket}]",
        tags=["housing", f"bucket-{bucket}"],
        custom={"bucket": bucket, "priority": "high", "ward": "Riverside"},
    )
    updated = case.model_copy(update={"details": "It got worse.", "version": 2})
    moved = updated.model_copy(update={"status": f"stage_{bucket}", "version": 3})
    return [
        _envelope(CASE_OPENED, case, {}),
        _envelope(CASE_UPDATED, updated, {"details": Change(before=None, after="It got worse.")}),
        _envelope(
            CASE_STATUS_CHANGED, moved, {"status": Change(before="open", after=moved.status)}
        ),
    ]


def _envelope(kind: str, case: CaseState, changes: dict[str, Change]) -> CaseEnvelope:
    return CaseEnvelope(
        type=kind,
        source="case-svc",
        subject=str(case.id),
        correlation_id=str(uuid.uuid4()),
        data=CaseEvent(case=case, changes=changes, actor="user_7"),
    )


async def feed(
    database: Database, settings: Settings, streams: list[list[CaseEnvelope]]
) -> tuple[float, list[float]]:
    """Each stream by its own feeder, one transaction per event; seconds in all, and ms per
    event."""
    handlers = Handlers(settings, SystemClock(), wake_timers=lambda: None)
    consumer = settings.group("case_rules")
    times: list[float] = []

    async def feeder(events: list[CaseEnvelope]) -> None:
        for envelope in events:
            started = time.perf_counter()
            async with database.transaction() as tx:
                if await tx.claim_message(consumer, envelope.id):
                    await handlers.fire_rules_on_case_event(envelope, tx)
            times.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(feeder(events) for events in streams))
    return time.perf_counter() - started, times


COUNTS = (
    "SELECT (SELECT count(*) FROM firings), (SELECT count(*) FROM outbox), "
    "(SELECT count(*) FROM firing_actions WHERE state = 'pending'), (SELECT count(*) FROM inbox)"
)


def checks(
    before: tuple[int, ...], after: tuple[int, ...], events: int, expected: dict[str, int]
) -> tuple[int, list[tuple[str, bool]]]:
    """What the run added (firings, outbox commands, pending timers, inbox claims) against
    what the buckets predict: the firings, and each check with whether it held."""
    firings, commands, timers, claims = (a - b for a, b in zip(after, before, strict=True))
    results = [
        (f"firings {firings} == expected {expected['firings']}", firings == expected["firings"]),
        (f"commands {commands} == expected {expected['now']}", commands == expected["now"]),
        (f"timers {timers} == expected {expected['later']}", timers == expected["later"]),
        (f"inbox claims {claims} == events {events}", claims == events),
    ]
    return firings, results


def expectations(rule_count: int, events: list[CaseEnvelope]) -> tuple[int, dict[str, int]]:
    """Rules considered (the enabled rules of the event's trigger names), and the firings,
    immediate commands and timers the events should make, from the buckets alone."""
    made = [rule(k) for k in range(rule_count)]
    candidates = {t: sum(e in triggers_for(t) for _, e, _ in made) for t in TRIGGERS}
    holding = Counter((e, b, "later" if s.actions[0].delay else "now") for s, e, b in made)
    considered, expected = 0, {"firings": 0, "now": 0, "later": 0}
    for envelope in events:
        considered += candidates[envelope.type]
        for when in ("now", "later"):
            fired = holding[(envelope.type, envelope.data.case.custom["bucket"], when)]
            expected[when] += fired
            expected["firings"] += fired
    return considered, expected


async def run(args: argparse.Namespace) -> bool:
    async def loaded(url: str) -> None:
        await load(url, args)

    all_ok = True
    async with scratch_database(args, "bench_rules", MIGRATIONS, loaded) as url:
        settings = Settings(database_url=url, log_json=False, log_level="WARNING")
        print(
            f"\n{'events':>7} {'rules':>6} {'feeders':>7} {'seconds':>8} {'events/s':>9} "
            f"{'evals/s':>9} {'firings':>8} {'p50 ms':>7} {'p99 ms':>7}"
        )
        for i, concurrency in enumerate(args.concurrency):
            if i > 0 or args.reuse:  # start each run from the same tables
                await load(url, args)
            cases = (case_events(n) for n in range(-(-args.events // 3)))
            events = [e for case in cases for e in case][: args.events]
            # Event j is about case j // 3: each case's events go to one feeder, in order.
            streams = [
                [e for j, e in enumerate(events) if j // 3 % concurrency == f]
                for f in range(concurrency)
            ]
            considered, expected = expectations(args.rules, events)
            database = Runtime(settings).database  # the pool and outbox settings it runs with
            before = await vacuum_and_count(database, COUNTS)
            seconds, times = await feed(database, settings, streams)
            after = await vacuum_and_count(database, COUNTS)
            firings, results = checks(before, after, len(events), expected)
            await database.dispose()
            all_ok &= report(
                f"{len(events):7} {args.rules:6} {concurrency:7} {seconds:8.1f} "
                f"{len(events) / seconds:9.0f} {considered / seconds:9.0f} "
                f"{firings:8} {pct(times, 50):7.1f} {pct(times, 99):7.1f}",
                results,
            )
    return all_ok


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=100_000, help="past firings to start from")
    parser.add_argument(
        "--concurrency",
        type=int_list,
        default=[1, 4],
        help="parallel feeders, each on its own cases; a list runs each in turn",
    )
    add_database_arguments(parser)
    run_and_check(parser, run, "automation-svc")


if __name__ == "__main__":
    main()
