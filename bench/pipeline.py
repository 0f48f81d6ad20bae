"""Throughput of the whole pipeline (issue 10): post N web forms as JSON at concurrency C to a
running stack and wait until every form's acknowledgement email is in the SMTP sink. Prints
accepted/s and accept latency, forms/s drained end to end, CPU ms per form of each process
of the stack (from /proc), PostgreSQL commits per form (pg_stat_database), and whether any
form was lost or doubled (exactly one case and one email each). ``--idle 30`` measures instead
what the stack costs doing nothing: CPU ms and commits per second over 30 s; ``--latency 10``
how long one form on an idle stack takes from its post to its email in the sink.

All posts come from one address, a thousand of them within a minute, so start the stack with
both of intake-svc's rate limits raised (``make up`` passes the environment to the services):

    INTAKE_SVC_RATE_PER_CLIENT_PER_MINUTE=1000000 INTAKE_SVC_RATE_PER_FORM_PER_MINUTE=1000000 make up
    uv run python bench/pipeline.py                # -n 1000 -c 20; --json adds a summary line
    uv run python bench/pipeline.py --idle 30
    uv run python bench/pipeline.py --latency 10    # one form at a time: post to email
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from harness import (
    add_stack_arguments,
    bench_parser,
    emails_by_subject,
    pct,
    post_forms,
    wait_for_emails,
)

from casestream_local.config import SERVICES, StackConfig
from casestream_local.processes import StackState, is_running

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
DATABASES = [StackConfig.database_prefix + s.database for s in SERVICES]


# -- the stack's processes and their CPU ---------------------------------------------------


def stack_processes(config: StackConfig) -> tuple[dict[str, int], str]:
    """name -> pid of each process the stack recorded, and its PostgreSQL server URL."""
    state = StackState.load(config.data / "stack.json")
    stopped = [name for name, record in state.processes.items() if not is_running(record)]
    if not state.processes or stopped:
        raise SystemExit(f"the stack is not up (stopped: {stopped or 'all'}); run make up")
    pids = {name: record.pid for name, record in state.processes.items()}
    return pids, str(state.info["database_url"])


def _process_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """ppid -> child pids, and pid -> CPU ticks, of every process on the machine.

    A process's /proc/<pid>/stat already sums all its threads (also the ended ones), so the
    tasks need no reading of their own. cutime + cstime are its ended children that it
    reaped: a PostgreSQL backend or autovacuum worker that ends within the window passes its
    time to the postmaster, so the sum over a tree stays whole."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The command name (field 2) may hold spaces: count the fields from its ")".
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        ticks[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return children, ticks


def cpu_ms(pids: dict[str, int]) -> dict[str, float]:
    """name -> CPU ms so far of each process and all its descendants (for PostgreSQL: the
    postmaster, its background processes and every backend)."""
    children, ticks = _process_table()

    def tree(pid: int) -> int:
        return ticks.get(pid, 0) + sum(tree(child) for child in children.get(pid, ()))

    return {name: tree(pid) * TICK_MS for name, pid in pids.items()}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    spent = {name: after[name] - before[name] for name in before}
    return spent | {"total": sum(spent.values())}


# -- PostgreSQL commits --------------------------------------------------------------------


async def commits(conn: asyncpg.Connection) -> dict[str, int]:
    """xact_commit of each of the stack's databases. Each backend flushes its own counters, at
    most once a second while busy and up to 10 s after it fell idle (pg_stat_force_next_flush()
    flushes only the caller's): a reading is whole only some seconds after the load
    (``--settle``)."""
    rows = await conn.fetch(
        "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1)", DATABASES
    )
    return {row["datname"]: row["xact_commit"] for row in rows}


def commits_made(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    made = {name: after[name] - before.get(name, 0) for name in sorted(after)}
    return made | {"total": sum(made.values())}


# -- drained, lost and doubled -------------------------------------------------------------


def _metric_sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def wait_until_quiet(
    config: StackConfig, timeout_s: float, services: list[str] | None = None
) -> None:
    """Until no service has anything left in its outbox and none consumed a message in the
    last half second: the emails are not the last messages (intake learns the outcome,
    activity-svc logs the email). Polls /metrics only now, not while the forms drain.
    ``services``: the base URLs to ask (default: each service's first process)."""
    services = services or [config.service_url(s.name) for s in SERVICES]
    urls = [f"{url}/metrics" for url in services]
    deadline = time.monotonic() + timeout_s
    last = None
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            texts = [(await client.get(url)).text for url in urls]
            backlog = sum(_metric_sum(t, "casestream_outbox_backlog") for t in texts)
            consumed = sum(_metric_sum(t, "casestream_messages_consumed_total") for t in texts)
            if backlog == 0 and consumed == last:
                return
            last = consumed
            await asyncio.sleep(0.5)
    print(f"warning: still busy {timeout_s:.0f} s after the last email", file=sys.stderr)


async def cases_by_subject(case_api: str, token: str, run: str) -> Counter[str]:
    """subject -> how many cases carry it, of the cases this run's forms opened."""
    found: Counter[str] = Counter()
    cursor = None
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        while True:
            params = {"q": run, "limit": 500, "active": "all"}
            page = (await c.get(f"{case_api}/cases", params=params | _cursor(cursor))).json()
            found.update(case["subject"] for case in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return found


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


def lost_and_doubled(subjects: list[str], counts: dict[str, int]) -> dict[str, int]:
    return {
        "lost": sum(1 for s in subjects if counts.get(s, 0) == 0),
        "doubled": sum(counts.get(s, 0) - 1 for s in subjects if counts.get(s, 0) > 1),
    }


# -- the runs ------------------------------------------------------------------------------


async def load_run(args: argparse.Namespace, config: StackConfig) -> dict[str, Any]:
    pids, database_url = stack_processes(config)
    run = uuid.uuid4().hex[:8]
    # One connection for the whole run: its backend is the postmaster's child, counted in
    # PostgreSQL's CPU, and stays idle between the two snapshots.
    conn = await asyncpg.connect(database_url)
    try:
        commits_before = await commits(conn)
        cpu_before, bench_before = cpu_ms(pids), time.process_time()
        first_post = time.time()
        sent_at, accept, posting_s = await post_forms(args.intake, args.n, args.c, run)
        cpu_posted = cpu_ms(pids)
        received = await wait_for_emails(args.sink, sent_at, args.timeout)
        await wait_until_quiet(config, args.timeout)
        cpu_after, bench_after = cpu_ms(pids), time.process_time()
        drained_s = time.time() - first_post
        await asyncio.sleep(args.settle)  # the counters flushed, late doubles arrived
        commits_after = await commits(conn)
    finally:
        await conn.close()
    last_email = max((min(times) for times in received.values()), default=float("nan"))
    emails = await emails_by_subject(args.sink, sent_at, min(sent_at.values()))
    cases = await cases_by_subject(args.case_api, args.token, run)
    subjects = list(sent_at)
    return {
        "n": args.n,
        "concurrency": args.c,
        "run": run,
        "posting_s": round(posting_s, 3),
        "accepted_per_s": round(args.n / posting_s, 2),
        "accept_p50_ms": round(pct(accept, 50) * 1000, 2),
        "accept_p99_ms": round(pct(accept, 99) * 1000, 2),
        "to_last_email_s": round(last_email - first_post, 3),
        "forms_per_s": round(args.n / (last_email - first_post), 2),
        "drained_s": round(drained_s, 3),
        # All intake-svc did while the posts came in (its relay and consumer included), per
        # accepted post: the "CPU per accepted post". The row in cpu_ms_per_form
        # adds the rest of the run (the outcomes it records after the last post, its polling).
        "intake_cpu_ms_per_accepted": round(
            cpu_spent(cpu_before, cpu_posted)["intake-svc"] / args.n, 3
        ),
        "cpu_ms_per_form": _per(cpu_spent(cpu_before, cpu_after), args.n),
        "bench_cpu_ms_per_form": round((bench_after - bench_before) * 1000 / args.n, 3),
        "commits_per_form": _per(commits_made(commits_before, commits_after), args.n),
        "cases": lost_and_doubled(subjects, cases),
        "emails": lost_and_doubled(subjects, {s: len(t) for s, t in emails.items()}),
    }


async def latency_run(args: argparse.Namespace, config: StackConfig) -> dict[str, Any]:
    """One form at a time on an idle stack: seconds from its post to its email in the sink."""
    run = uuid.uuid4().hex[:8]
    seconds = []
    for i in range(args.latency):
        sent_at, _, _ = await post_forms(args.intake, 1, 1, f"{run}-{i}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            received = await emails_by_subject(args.sink, sent_at, min(sent_at.values()))
            if received:
                ((subject, times),) = received.items()
                seconds.append(min(times) - sent_at[subject])
                break
            await asyncio.sleep(0.02)
        else:
            raise SystemExit(f"form {i} never reached the sink")
        await asyncio.sleep(1)  # idle again: the consumers are back to polling
    return {
        "forms": len(seconds),
        "p50_s": round(pct(seconds, 50), 3),
        "max_s": round(max(seconds), 3),
    }


async def idle_run(args: argparse.Namespace, config: StackConfig) -> dict[str, Any]:
    pids, database_url = stack_processes(config)
    conn = await asyncpg.connect(database_url)
    try:
        commits_before, cpu_before = await commits(conn), cpu_ms(pids)
        await asyncio.sleep(args.idle)
        cpu_after, commits_after = cpu_ms(pids), await commits(conn)
    finally:
        await conn.close()
    return {
        "idle_s": args.idle,
        "cpu_ms_per_s": _per(cpu_spent(cpu_before, cpu_after), args.idle),
        "commits_per_s": _per(commits_made(commits_before, commits_after), args.idle),
    }


def _per(figures: dict[str, float], divisor: float) -> dict[str, float]:
    return {name: round(value / divisor, 3) for name, value in figures.items()}


# -- printing ------------------------------------------------------------------------------


def print_table(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, value in figures.items():
        print(f"  {name:<26} {value:9.2f}")


def print_load(r: dict[str, Any]) -> bool:
    """Prints the run's figures; whether every form became exactly one case and one email."""
    print(f"pipeline: {r['n']} forms at concurrency {r['concurrency']} (run {r['run']})")
    print(
        f"accepted: {r['n']} in {r['posting_s']:.2f} s: {r['accepted_per_s']:.1f} accepted/s; "
        f"accept latency p50 {r['accept_p50_ms']:.1f} ms, p99 {r['accept_p99_ms']:.1f} ms"
    )
    print(
        f"drained: last email {r['to_last_email_s']:.2f} s after the first post: "
        f"{r['forms_per_s']:.1f} forms/s end to end (all quiet after {r['drained_s']:.2f} s)"
    )
    print(
        f"intake-svc while accepting: {r['intake_cpu_ms_per_accepted']:.2f} ms CPU per "
        "accepted post"
    )
    print_table("CPU ms per form, from the first post until all quiet:", r["cpu_ms_per_form"])
    print(f"  {'(this bench, not in total)':<26} {r['bench_cpu_ms_per_form']:9.2f}")
    print_table("PostgreSQL commits per form:", r["commits_per_form"])
    cases, emails = r["cases"], r["emails"]
    print(
        f"cases: {cases['lost']} lost, {cases['doubled']} doubled; "
        f"emails: {emails['lost']} lost, {emails['doubled']} doubled"
    )
    ok = not any(cases.values()) and not any(emails.values())
    print("OK: exactly one case and one email per form" if ok else "MISMATCH: lost or doubled")
    return ok


def print_idle(r: dict[str, Any]) -> None:
    print(f"idle: the stack under no load for {r['idle_s']:.0f} s")
    print_table("CPU ms per second:", r["cpu_ms_per_s"])
    print_table("PostgreSQL commits per second:", r["commits_per_s"])


async def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=1000, help="forms to post")
    parser.add_argument("-c", type=int, default=20, help="concurrent posters")
    parser.add_argument("--idle", type=float, metavar="SECONDS", help="measure the idle stack")
    parser.add_argument(
        "--latency", type=int, metavar="FORMS", help="post to email, one form at a time"
    )
    parser.add_argument("--json", action="store_true", help="end with a JSON summary line")
    add_stack_arguments(parser)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait to drain")
    parser.add_argument(
        "--settle", type=float, default=20, help="seconds after draining before the commits"
    )
    args = parser.parse_args()
    config = StackConfig()
    if args.latency:
        result, ok = await latency_run(args, config), True
        print(
            f"idle latency, post to email in the sink, {result['forms']} forms one at a time: "
            f"p50 {result['p50_s']:.3f} s, max {result['max_s']:.3f} s"
        )
    elif args.idle:
        result, ok = await idle_run(args, config), True
        print_idle(result)
    else:
        result = await load_run(args, config)
        ok = print_load(result)
    if args.json:
        print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
